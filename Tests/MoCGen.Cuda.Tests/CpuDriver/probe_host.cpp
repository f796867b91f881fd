// CpuDriverTests' host: loads the CPU driver (argv[1]) with dlopen, launches the probe kernels through the driver API
// and prints one line per launch: `name code message` (and the values the test checks).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <vector>

typedef int (*Init)(unsigned);
typedef int (*Load)(void**, const void*, unsigned, int*, void**);
typedef int (*Get)(void**, void*, const char*);
typedef int (*Alloc)(unsigned long long*, size_t);
typedef int (*Copy)(unsigned long long, const void*, size_t);
typedef int (*CopyBack)(void*, unsigned long long, size_t);
typedef int (*LaunchFn)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);
typedef int (*Text)(int, const char**);

int main(int argc, char** argv)
{
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { std::printf("dlopen %s\n", dlerror()); return 2; }
    auto init = (Init)dlsym(lib, "cuInit");
    auto load = (Load)dlsym(lib, "cuModuleLoadDataEx");
    auto get = (Get)dlsym(lib, "cuModuleGetFunction");
    auto alloc = (Alloc)dlsym(lib, "cuMemAlloc_v2");
    auto copy = (Copy)dlsym(lib, "cuMemcpyHtoD_v2");
    auto back = (CopyBack)dlsym(lib, "cuMemcpyDtoH_v2");
    auto launch = (LaunchFn)dlsym(lib, "cuLaunchKernel");
    auto text = (Text)dlsym(lib, "cuGetErrorString");
    init(0);
    // The PTX's kernel list as clang writes it: each .entry with its .param list.
    const char* ptx = ".visible .entry probe_right(\n\t.param .u64 a,\n\t.param .u64 b\n)\n.maxntid 64, 1, 1\n{\n}\n"
                      ".visible .entry probe_divergent_barrier(\n\t.param .u64 a\n)\n"
                      ".visible .entry probe_exited_lanes(\n\t.param .u64 a\n)\n"
                      ".visible .entry probe_past_end(\n\t.param .u64 a,\n\t.param .u32 b\n)\n"
                      ".visible .entry probe_deadlock(\n\t.param .u64 a\n)\n"
                      ".visible .entry probe_unwritten_shared(\n\t.param .align 8 .b8 a[8]\n)\n";
    void* module = nullptr;
    int r = load(&module, ptx, 0, nullptr, nullptr);
    std::printf("load %d\n", r);
    const char* unknown = ".visible .entry probe_nowhere(\n)\n";
    char log[512] = {0};
    int options[2] = {5, 6};
    void* values[2] = {log, (void*)sizeof log};
    void* other = nullptr;
    std::printf("load-unknown %d %s\n", load(&other, unknown, 2, options, values), log);
    const char* differing = ".visible .entry probe_past_end(\n\t.param .u64 a\n)\n";
    std::printf("load-differing %d %s\n", load(&other, differing, 2, options, values), log);

    unsigned long long in, out, small;
    alloc(&in, 2 * 64 * sizeof(float));
    alloc(&out, 2 * 64 * 4 * sizeof(float));
    alloc(&small, 64 * sizeof(float));
    std::vector<float> host(2 * 64 * 4);
    back(host.data(), small, 64 * sizeof(float));
    unsigned bits;
    std::memcpy(&bits, host.data(), 4);
    std::printf("fresh 0x%08x\n", bits);
    std::vector<float> input(128);
    for (int i = 0; i < 128; i++) input[i] = (float)(i % 7) - 2.0f;
    copy(in, input.data(), input.size() * sizeof(float));

    auto run = [&](const char* name, unsigned blocks, unsigned threads, unsigned shared, void** params) {
        void* f = nullptr;
        int g = get(&f, module, name);
        int code = g != 0 ? g : launch(f, blocks, 1, 1, threads, 1, 1, shared, nullptr, params, nullptr);
        const char* message = "";
        text(code, &message);
        std::printf("%s %d %s\n", name, code, message);
    };
    void* right[] = {&in, &out};
    run("probe_right", 2, 64, 0, right);
    back(host.data(), out, host.size() * sizeof(float));
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 64; t += 21)
        {
            const float* row = &host[(b * 64 + t) * 4];
            std::printf("right %d %d %g %g %g %g\n", b, t, row[0], row[1], row[2], row[3]);
        }
    void* one[] = {&out};
    run("probe_divergent_barrier", 1, 64, 0, one);
    run("probe_exited_lanes", 1, 32, 0, one);
    int n = 64;
    void* past[] = {&small, &n};
    run("probe_past_end", 1, 64, 0, past);
    run("probe_deadlock", 1, 64, 0, one);
    run("probe_unwritten_shared", 1, 64, 256, one);
    back(host.data(), out, 64 * sizeof(float));
    std::memcpy(&bits, host.data(), 4);
    std::printf("shared 0x%08x\n", bits);
    run("probe_right", 2, 64, 65536, right);  // above 48 KiB without cuFuncSetAttribute
    run("probe_right", 1, 128, 0, right);  // above the PTX's .maxntid
    return 0;
}
