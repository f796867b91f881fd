using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using MoCGen.Checkpoints;
using MoCGen.Data;
using MoCGen.Inference;
using MoCGen;
using MoCGen.Cuda;

// tinymoc [--checkpoint runs/tinymoc/checkpoint.safetensors] [--prompt "text"] [--max-tokens 200]
//         [--temperature 0.8] [--top-p 0.95] [--seed 1] [--device auto|cpu|cuda] [--stats]
// ShippedModel is the model this binary is built for (MSBuild property InferModel; TinyMoC by default).
return Infer.Run<ShippedModel>(args, Console.Out, Console.Error);

/// <summary>Loads a checkpoint of the compiled model and streams generated text, decoding with a key/value cache.</summary>
public static class Infer
{
    public static int Run<TModel>(string[] args, TextWriter output, TextWriter error) where TModel : IMoCModel
    {
        var plan = TModel.Plan;
        string name = plan.Shape.Name, tool = typeof(Infer).Assembly.GetName().Name ?? "tinymoc";
        int context = plan.Shape.Context;
        try
        {
            var options = Options.Parse(args);
            var device = options.Device;
            if (device is not ("auto" or "cpu" or "cuda"))
                throw new UsageException($"--device must be auto, cpu or cuda, not '{device}'.");

            var started = Stopwatch.StartNew();
            var prompt = ByteTokenizer.Instance.Encode(options.Prompt);
            if (prompt.Length == 0) throw new UsageException("The prompt is empty; pass --prompt \"some text\".");
            if (prompt.Length >= context)
                throw new UsageException($"The prompt is {prompt.Length} tokens; {name}'s context is {context}, so at most {context - 1} fit with room to generate.");
            if (!File.Exists(options.Checkpoint))
                throw new UsageException($"Checkpoint '{options.Checkpoint}' was not found. Train one first: dotnet run -c Release --project examples/TinyMoC");

            var parameters = ParameterMemory.Allocate(plan.ParameterCount);
            var loaded = ModelCheckpoint.Load(options.Checkpoint, plan, parameters, new CheckpointOptions { TransposedInMemory = ModelCheckpoint.DownProjectionTransposed });
            foreach (var note in loaded.Notes) error.WriteLine(tool + ": note: " + note);
            var loadedAt = started.Elapsed;
            using var gpu = device == "cpu" ? null : OpenGpu<TModel>(device == "cuda", parameters);
            ITokenDecoder session = gpu is not null ? gpu.Session : TModel.CreateDecodeSession(parameters);
            var sampler = new TokenSampler(options.Temperature, options.TopP, options.Seed);
            var decoder = ByteTokenizer.Instance.CreateStreamDecoder();
            var logits = session.Append(prompt);
            output.Write(options.Prompt);
            int budget = Math.Min(options.MaxTokens, context - session.Length);
            var firstToken = TimeSpan.Zero;
            var decoding = Stopwatch.StartNew();
            for (int i = 0; i < budget; i++)
            {
                int next = sampler.Next(logits);
                if (i == 0) firstToken = started.Elapsed;
                output.Write(decoder.Push(next));
                output.Flush();
                if (i + 1 < budget) logits = session.Append(next);
            }
            output.Write(decoder.Flush());
            output.WriteLine();
            double seconds = decoding.Elapsed.TotalSeconds;
            if (options.Stats)
                error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{{\"model\":\"{name}\",\"device\":\"{session.Device}\",\"prompt_tokens\":{prompt.Length},\"tokens\":{budget},\"decode_s\":{seconds:R},\"tokens_per_s\":{budget / seconds:R},\"load_ms\":{loadedAt.TotalMilliseconds:R},\"first_token_ms\":{firstToken.TotalMilliseconds:R}}}"));
            else
                error.WriteLine($"[{budget} tokens, {budget / seconds:F1} tokens/s on {session.Device}; first token {firstToken.TotalMilliseconds:F0} ms after start]");
            return 0;
        }
        catch (Exception e) when (e is UsageException or CheckpointException or IOException or CudaException)
        {
            error.WriteLine(tool + ": " + e.Message);
            return 2;
        }
    }

    /// <summary>
    /// The GPU decoder, when this binary carries its model's kernels (PTX resources) and an NVIDIA driver and GPU are
    /// there; null (decode on CPU) otherwise, unless <paramref name="required"/>, which turns the reason into an error.
    /// </summary>
    private static GpuDecoder? OpenGpu<TModel>(bool required, float[] parameters) where TModel : IMoCModel
    {
        var kernels = TModel.GpuDecodeKernels;
        var ptx = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var unit in kernels.Units)
        {
            if (CudaKernelDevice.EmbeddedPtx(typeof(Infer).Assembly, kernels.Model, unit) is not { } text)
            {
                if (!required) return null;
                throw new UsageException($"--device cuda: this build carries no CUDA kernels ({CudaKernelDevice.PtxResourceName(kernels.Model, unit)} is missing: neither nvcc nor clang was found when it was built); rebuild where one is, or use --device cpu.");
            }
            ptx[unit] = text;
        }
        if (!CudaDevice.TryOpen(0, out var gpu, out var why))
        {
            if (!required) return null;
            throw new UsageException("--device cuda: " + why);
        }
        CudaKernelDevice? kernelDevice = null;
        try
        {
            kernelDevice = new CudaKernelDevice(gpu, ptx);
            return new GpuDecoder(gpu, kernelDevice, new GpuDecodeSession(kernelDevice, TModel.Plan, kernels, parameters));
        }
        catch
        {
            kernelDevice?.Dispose();
            gpu.Dispose();
            throw;
        }
    }

    private sealed class GpuDecoder(CudaDevice gpu, CudaKernelDevice device, GpuDecodeSession session) : IDisposable
    {
        public GpuDecodeSession Session => session;

        public void Dispose()
        {
            session.Dispose();
            device.Dispose();
            gpu.Dispose();
        }
    }

    private sealed class UsageException(string message) : Exception(message);

    private sealed record Options(string Checkpoint, string Prompt, int MaxTokens, double Temperature, double TopP, ulong Seed, string Device, bool Stats)
    {
        public static Options Parse(string[] args)
        {
            var o = new Options(Path.Combine("runs", "tinymoc", "checkpoint.safetensors"), "The ", 200, 0.8, 0.95, 1, "auto", false);
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value.");
                o = args[i] switch
                {
                    "--checkpoint" => o with { Checkpoint = Value() },
                    "--prompt" => o with { Prompt = Value() },
                    "--max-tokens" => o with { MaxTokens = Number(Value(), "--max-tokens", 1) },
                    "--temperature" => o with { Temperature = Real(Value(), "--temperature") },
                    "--top-p" => o with { TopP = Real(Value(), "--top-p") },
                    "--seed" => o with { Seed = (ulong)Number(Value(), "--seed", 0) },
                    "--device" => o with { Device = Value() },
                    "--stats" => o with { Stats = true },
                    _ => throw new UsageException($"Unknown option '{args[i]}'. Options: --checkpoint, --prompt, --max-tokens, --temperature, --top-p, --seed, --device, --stats."),
                };
            }
            if (!(o.Temperature >= 0)) throw new UsageException("--temperature must be >= 0 (0 is greedy).");
            if (!(o.TopP > 0 && o.TopP <= 1)) throw new UsageException("--top-p must be in (0, 1].");
            return o;
        }

        private static int Number(string text, string option, int min) =>
            int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= min
                ? v : throw new UsageException($"{option} must be an integer >= {min}, not '{text}'.");

        private static double Real(string text, string option) =>
            double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)
                ? v : throw new UsageException($"{option} must be a number, not '{text}'.");
    }
}
