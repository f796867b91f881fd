using System;
using System.Linq;
using MoCGen.Cpu;
using Xunit;

namespace MoCGen.Runtime.Tests;

/// <summary>
/// Cross-entropy against the double reference. Tolerances (V = vocab): the row sum of exp(z - max) has V terms, each
/// within 2 u of exact (Vector512.Exp is within about 2 ulp), so the sum is within (V + 2) u relatively and its log
/// within (V + 2) u absolutely; the log, max - z_target and the final add round once each, on values no larger than
/// |max| + |z_target| + loss. Loss bound: 2 ((V + 4) u + u (|max| + |z_target| + loss)). Gradient p / tokens: the sum's (V + 2) u, the exp's 2 u, one
/// product, one scale: 2 (V + 6) u p / tokens, plus u / tokens for the target entry's subtraction of 1 / tokens.
/// The mean: the mean of the loss bounds plus tokens u mean (double summation of fp32 losses is exact enough).
/// </summary>
public sealed class CrossEntropyTests
{
    private const double U = ModelReference.U;

    [Theory]
    [InlineData(11, 257, 5.0)]
    [InlineData(1, 1, 1.0)]      // one class: loss 0, gradient 0
    [InlineData(300, 257, 3.0)]  // past the parallel threshold
    [InlineData(4, 33, 200.0)]   // very peaked rows: softmax underflows to 0 for most classes
    public void MatchesReference(int tokens, int vocab, double scale)
    {
        var logits = ModelReference.Random(tokens * vocab, vocab + tokens, scale);
        var random = new Random(tokens);
        var targets = Enumerable.Range(0, tokens).Select(_ => random.Next(vocab)).ToArray();
        var (wantLoss, wantMean, wantGrad) = ModelReference.CrossEntropy(tokens, vocab, logits, targets);

        var losses = new float[tokens];
        double mean = CrossEntropy.Forward(tokens, vocab, logits, targets, losses);
        double meanBound = 0;
        for (int t = 0; t < tokens; t++)
        {
            float max = logits.Skip(t * vocab).Take(vocab).Max();
            double bound = 2 * ((vocab + 4) * U + U * (Math.Abs(max) + Math.Abs(logits[t * vocab + targets[t]]) + wantLoss[t]));
            meanBound += bound / tokens;
            Assert.True(Math.Abs(losses[t] - wantLoss[t]) <= bound, $"loss[{t}]: {losses[t]} vs {wantLoss[t]}");
        }
        Assert.True(Math.Abs(mean - wantMean) <= meanBound + tokens * U * wantMean, $"mean: {mean} vs {wantMean}");

        var fused = (float[])logits.Clone();
        var fusedLosses = new float[tokens];
        double fusedMean = CrossEntropy.ForwardBackward(tokens, vocab, fused, targets, fusedLosses);
        Assert.Equal(losses, fusedLosses);
        Assert.Equal(mean, fusedMean);

        var grad = (float[])logits.Clone();
        CrossEntropy.Backward(tokens, vocab, grad, targets);
        Assert.Equal(fused, grad);
        for (int t = 0; t < tokens; t++)
            for (int j = 0; j < vocab; j++)
            {
                int i = t * vocab + j;
                double p = wantGrad[i] + (j == targets[t] ? 1.0 / tokens : 0);
                double bound = 2 * (vocab + 6) * U * p + (j == targets[t] ? U / tokens : 0) + 1e-38;
                Assert.True(Math.Abs(grad[i] - wantGrad[i]) <= bound, $"dlogits[{t}, {j}]: {grad[i]} vs {wantGrad[i]}");
            }
    }

    [Fact]
    public void HugeLogitsStayFinite()
    {
        // Without the max subtraction exp(1e4) would overflow.
        float[] logits = [1e4f, 1e4f - 1, -1e4f, 3e4f, 3e4f, 3e4f - 2];
        int[] targets = [1, 2];
        var losses = new float[2];
        double mean = CrossEntropy.ForwardBackward(2, 3, logits, targets, losses);
        // loss = log(sum exp(z - max)) + (max - z_target): the large max cancels exactly.
        double l0 = Math.Log(1 + Math.Exp(-1)) + 1;
        double l1 = Math.Log(2 + Math.Exp(-2)) + 2;
        Assert.Equal(l0, losses[0], 5);
        Assert.Equal(l1, losses[1], 5);
        Assert.Equal((l0 + l1) / 2, mean, 5);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// dlogits against central differences of the mean loss, h = 1e-2: truncation O(h^2 |f'''|) with |f'''| &lt;= 1 /
    /// tokens ~ 3e-5; rounding noise u |loss| / h ~ 1e-5. Allowed 1e-3 |g| + 1e-4.
    /// </summary>
    [Fact]
    public void BackwardMatchesCentralDifferences()
    {
        int tokens = 3, vocab = 7;
        var logits = ModelReference.Random(tokens * vocab, 31, 2);
        int[] targets = [0, 6, 3];
        var grad = (float[])logits.Clone();
        CrossEntropy.Backward(tokens, vocab, grad, targets);
        double Loss() => CrossEntropy.Forward(tokens, vocab, logits, targets, new float[tokens]);
        for (int i = 0; i < logits.Length; i++)
        {
            float saved = logits[i];
            logits[i] = saved + 1e-2f; double plus = Loss();
            logits[i] = saved - 1e-2f; double minus = Loss();
            logits[i] = saved;
            double fd = (plus - minus) / 2e-2;
            Assert.True(Math.Abs(fd - grad[i]) <= 1e-3 * Math.Abs(grad[i]) + 1e-4, $"dlogits[{i}]: {fd} vs {grad[i]}");
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(257)]
    public void OutOfRangeTargetIsRejectedBeforeAnythingIsWritten(int bad)
    {
        int tokens = 5, vocab = 257;
        var logits = ModelReference.Random(tokens * vocab, 1);
        var before = (float[])logits.Clone();
        int[] targets = [0, 1, 2, bad, 4];
        var ex = Assert.Throws<ArgumentException>(() => CrossEntropy.ForwardBackward(tokens, vocab, logits, targets, new float[tokens]));
        Assert.Equal("targets", ex.ParamName);
        Assert.Contains("token 3", ex.Message);
        Assert.Contains(bad.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message);
        Assert.Contains("257", ex.Message);
        Assert.Equal(before, logits);
        Assert.Throws<ArgumentException>(() => CrossEntropy.Backward(tokens, vocab, logits, targets));
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(tokens, vocab, logits, targets, new float[tokens]));
        Assert.Equal(before, logits);
    }

    [Fact]
    public void RejectsBadSizes()
    {
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(2, 4, new float[7], [0, 0], new float[2]));
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(2, 4, new float[8], [0], new float[2]));
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(2, 4, new float[8], [0, 0], new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(2, 0, new float[8], [0, 0], new float[2]));
    }
}
