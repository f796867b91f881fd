using System;

namespace MoCGen.Inference;

/// <summary>
/// Picks the next token from logits: greedy at temperature 0, else softmax at the temperature restricted to the
/// smallest set of tokens whose probability reaches <see cref="TopP"/> (nucleus sampling). Seeded and reproducible.
/// </summary>
public sealed class TokenSampler
{
    private ulong _state;
    private double[] _probabilities = [];
    private int[] _order = [];

    /// <summary>Creates a sampler.</summary>
    /// <param name="temperature">0 for greedy; otherwise the softmax temperature (&gt; 0).</param>
    /// <param name="topP">Nucleus mass in (0, 1]; 1 keeps every token.</param>
    /// <param name="seed">Seed of the draws.</param>
    public TokenSampler(double temperature = 0, double topP = 1, ulong seed = 1)
    {
        if (!(temperature >= 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be a finite number >= 0 (0 means greedy).");
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP), topP, "top-p must be in (0, 1].");
        Temperature = temperature;
        TopP = topP;
        _state = seed;
    }

    /// <summary>Softmax temperature; 0 is greedy.</summary>
    public double Temperature { get; }

    /// <summary>Nucleus mass.</summary>
    public double TopP { get; }

    /// <summary>The chosen token id.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException("No logits to sample from.", nameof(logits));
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        if (Temperature == 0) return best;

        if (_probabilities.Length != logits.Length)
        {
            _probabilities = new double[logits.Length];
            _order = new int[logits.Length];
        }
        double max = logits[best], sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            sum += _probabilities[i] = Math.Exp((logits[i] - max) / Temperature);
            _order[i] = i;
        }
        var probabilities = _probabilities;
        Array.Sort(_order, (a, b) => probabilities[b].CompareTo(probabilities[a]) is var c && c != 0 ? c : a.CompareTo(b));
        double mass = 0;
        int keep = 0;
        while (keep < _order.Length && mass < TopP * sum) mass += _probabilities[_order[keep++]];
        double u = Uniform() * mass;
        for (int r = 0; r < keep; r++)
            if ((u -= _probabilities[_order[r]]) <= 0) return _order[r];
        return _order[keep - 1];
    }

    /// <summary>A uniform draw in [0, 1) from SplitMix64: the same sequence on every platform.</summary>
    private double Uniform()
    {
        ulong z = _state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return ((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
    }
}
