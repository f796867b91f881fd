// mocgen_cpu_driver.h: the part of the CUDA driver API that MoCGen's runtime calls (Runtime/Cuda/CudaDriver.cs), on the
// CPU, for kernels compiled with mocgen_cpu.h. `mocgen cuda-cpu` compiles one translation unit that includes this file
// beside the models' kernels into a libcuda.so.1; a MoCGen program run with LD_LIBRARY_PATH (or MOCGEN_CUDA_DRIVER) set
// to it takes its CUDA path with no GPU: the same host code, the same kernel text, the same launch tables.
//
// Device memory is host memory: every allocation ends at a page the process may not touch, so a kernel that reads or
// writes past the end of its buffer faults; the fault ends the launch with CUDA_ERROR_ILLEGAL_ADDRESS and a message
// naming the kernel, block, thread and buffer (cuGetErrorString gives it, and it is printed to stderr). New allocations
// and each block's dynamic shared memory are filled with 0xff bytes (NaN as floats), so reading what nothing wrote shows.
// Copies and memsets must lie inside one allocation. Modules load PTX: every .entry must be a kernel compiled in that
// takes the parameters the PTX declares, and a launch may not exceed the block size its .maxntid allows. Launches run at once (a stream is a name), their blocks one after another in an order
// that changes from launch to launch; events read a steady clock.
// The device reports sm_80 limits (108 SMs, 48 KiB of shared memory a block, 163 KiB with the opt-in).
#pragma once
#ifndef MOCGEN_CPU_DRIVER_H
#define MOCGEN_CPU_DRIVER_H

#include "mocgen_cpu.h"

#include <chrono>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#define MOCGEN_CPU_API extern "C" __attribute__((visibility("default")))

namespace mocgen_cpu
{
// ---- Fibers: a context switch saves the callee-saved registers on the stack it leaves. ----
extern "C" void mocgen_cpu_switch(void** save_sp, void* load_sp);
#if defined(__x86_64__)
asm(R"(
    .text
    .p2align 4
    .type mocgen_cpu_switch,@function
mocgen_cpu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size mocgen_cpu_switch, .-mocgen_cpu_switch
)");
constexpr int SavedRegisters = 6;
#else
#error "mocgen_cpu_driver.h: the fibers' context switch is written for x86-64"
#endif

constexpr std::size_t StackBytes = 256 * 1024;  // a fiber's stack (the kernels' locals are registers' worth)
constexpr int WarpSize = 32;

struct Barrier
{
    int expected = 0;  // threads that take part (the live ones)
    int arrived = 0;
    unsigned int generation = 0;
    int line = 0;  // where the first arrival of this generation waits
    int count = 0;  // __syncthreads_count: nonzero predicates so far, and the last generation's total
    int total = 0;
};

struct Fiber
{
    void* sp = nullptr;
    unsigned char* stack = nullptr;
    dim3 idx{};
    int linear = 0;
    bool done = false;
    const char* waits = nullptr;  // what it waits at, for a deadlock report
    int wait_line = 0;
    unsigned int shuffles = 0;  // warp shuffles so far (which set of the warp's slots the next one uses)
};

struct Warp
{
    Barrier barrier;
    int size = 0;
    int live = 0;
    std::uint64_t slot[2][WarpSize] = {};
};

struct Kernel
{
    std::string name;
    void* function = nullptr;
    Invoker invoker = nullptr;
    std::vector<std::size_t> parameter_sizes;
};

/// One launch in progress on this OS thread.
struct Launch
{
    const Kernel* kernel = nullptr;
    void** params = nullptr;
    dim3 grid{}, block{}, block_idx{};
    int threads = 0;
    std::vector<Fiber>* fibers = nullptr;
    std::vector<Warp> warps;
    Barrier barrier;
    int live = 0;
    std::uint64_t progress = 0;  // arrivals, releases and exits: what a pass of the scheduler must change
    unsigned char* shared = nullptr;
    std::string error;
    int error_code = 0;
    void* scheduler_sp = nullptr;
    Fiber* current = nullptr;
};

thread_local Launch* t_launch = nullptr;

inline Launch& launch() { return *t_launch; }

// ---- The registry of compiled kernels ----
inline std::unordered_map<std::string, Kernel>& registry()
{
    static std::unordered_map<std::string, Kernel> kernels;
    return kernels;
}

void register_kernel(const char* name, void* kernel, Invoker invoker, const std::size_t* parameter_sizes, std::size_t parameters)
{
    auto& kernels = registry();
    if (kernels.count(name) != 0)
    {
        std::fprintf(stderr, "mocgen CPU driver: kernel %s is compiled in twice\n", name);
        std::abort();
    }
    kernels[name] = Kernel{name, kernel, invoker, std::vector<std::size_t>(parameter_sizes, parameter_sizes + parameters)};
}

const dim3& thread_idx() { return launch().current->idx; }
const dim3& block_idx() { return launch().block_idx; }
const dim3& block_dim() { return launch().block; }
const dim3& grid_dim() { return launch().grid; }
unsigned char* dynamic_shared() { return launch().shared; }

inline void yield()
{
    Launch& l = launch();
    mocgen_cpu_switch(&l.current->sp, l.scheduler_sp);
}

/// Ends the launch with `message` about the running thread: the scheduler sees the error and never resumes the fiber.
[[noreturn]] inline void fail(const char* format, ...)
{
    Launch& l = launch();
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    char where[160];
    std::snprintf(where, sizeof where, "block (%u, %u, %u), thread (%u, %u, %u): ", l.block_idx.x, l.block_idx.y,
        l.block_idx.z, l.current->idx.x, l.current->idx.y, l.current->idx.z);
    l.error = std::string(where) + text;
    l.error_code = 719;  // CUDA_ERROR_LAUNCH_FAILED
    for (;;) yield();
}

inline void release(Barrier& b)
{
    b.total = b.count;
    b.count = 0;
    b.arrived = 0;
    b.generation++;
    launch().progress++;
}

/// Arrives at `b` and waits until every thread that takes part has.
inline void arrive(Barrier& b, int line, const char* what, int predicate = 0)
{
    Launch& l = launch();
    if (b.arrived == 0)
        b.line = line;
    else if (b.line != line)
        fail("threads wait at %s on different lines (%d and %d): a barrier under a condition that differs between them", what,
            b.line, line);
    b.count += predicate;
    b.arrived++;
    l.progress++;
    unsigned int generation = b.generation;
    if (b.arrived == b.expected)
    {
        release(b);
        return;
    }
    l.current->waits = what;
    l.current->wait_line = line;
    while (b.generation == generation) yield();
    l.current->waits = nullptr;
}

void sync_block(int line) { arrive(launch().barrier, line, "__syncthreads"); }

int sync_block_count(int predicate, int line)
{
    Barrier& b = launch().barrier;
    arrive(b, line, "__syncthreads_count", predicate);
    return b.total;
}

inline Warp& own_warp(unsigned int mask, const char* what)
{
    Launch& l = launch();
    Warp& w = l.warps[l.current->linear / WarpSize];
    unsigned int full = w.size == WarpSize ? 0xffffffffu : (1u << w.size) - 1u;
    if (mask != full) fail("%s with mask 0x%08x: only the whole warp (0x%08x) is supported", what, mask, full);
    if (w.live != w.size) fail("%s over a warp of which %d of %d lanes have exited", what, w.size - w.live, w.size);
    return w;
}

void sync_warp(unsigned int mask, int line) { arrive(own_warp(mask, "__syncwarp").barrier, line, "__syncwarp"); }

std::uint64_t shuffle(std::uint64_t bits, Shuffle kind, int arg, int width, unsigned int mask, int line)
{
    Warp& w = own_warp(mask, "a warp shuffle");
    if (width < 1 || width > WarpSize || (width & (width - 1)) != 0) fail("a warp shuffle of width %d", width);
    Fiber& f = *launch().current;
    int lane = f.linear % WarpSize;
    // Two sets of slots, used in turn: a lane writes set p again only after the next shuffle's barrier, which every
    // lane reaches after it has read set p. So one barrier a shuffle suffices.
    std::uint64_t* slot = w.slot[f.shuffles++ & 1];
    slot[lane] = bits;
    arrive(w.barrier, line, "warp shuffle");  // every lane has written its value
    int start = lane & ~(width - 1);
    int source = lane;
    switch (kind)
    {
    case Shuffle::Index: source = start + (arg & (width - 1)); break;
    case Shuffle::Up: source = lane - arg >= start ? lane - arg : lane; break;
    case Shuffle::Down: source = lane + arg < start + width ? lane + arg : lane; break;
    case Shuffle::Xor: source = (lane ^ arg) < start + width ? lane ^ arg : lane; break;
    }
    return source < w.size ? slot[source] : bits;
}

// ---- Running a launch ----
inline void thread_exits()
{
    Launch& l = launch();
    Fiber& f = *l.current;
    Warp& w = l.warps[f.linear / WarpSize];
    if (w.barrier.arrived > 0)
        fail("a lane exits while other lanes of its warp (%d) wait at a warp shuffle or __syncwarp on line %d", w.barrier.arrived,
            w.barrier.line);
    f.done = true;
    l.live--;
    l.progress++;
    w.live--;
    w.barrier.expected--;
    l.barrier.expected--;
    // Exited threads no longer hold a barrier back (as on the GPU, sm_70 on).
    if (l.barrier.arrived > 0 && l.barrier.arrived == l.barrier.expected) release(l.barrier);
}

[[noreturn]] inline void fiber_main()
{
    Launch& l = launch();
    l.kernel->invoker(l.kernel->function, l.params);
    thread_exits();
    for (;;) yield();
}

/// The fibers' stacks (mapped once per OS thread, reused by every launch), each above a page nothing may touch.
inline std::vector<Fiber>& fibers_for(int threads)
{
    thread_local std::vector<Fiber> fibers;
    long page = sysconf(_SC_PAGESIZE);
    while ((int)fibers.size() < threads)
    {
        void* m = mmap(nullptr, StackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
        {
            std::fprintf(stderr, "mocgen CPU driver: cannot map a fiber stack\n");
            std::abort();
        }
        mprotect(m, page, PROT_NONE);  // a stack overflow faults
        Fiber f;
        f.stack = static_cast<unsigned char*>(m) + page;
        fibers.push_back(f);
    }
    return fibers;
}

inline void start_fiber(Fiber& f)
{
    auto* top = reinterpret_cast<std::uintptr_t*>(f.stack + StackBytes);  // 16-byte aligned
    *--top = 0;  // fiber_main's return address (it never returns): at its entry rsp + 8 is 16-byte aligned
    *--top = reinterpret_cast<std::uintptr_t>(&fiber_main);  // where mocgen_cpu_switch's ret goes
    for (int i = 0; i < SavedRegisters; i++) *--top = 0;
    f.sp = top;
    f.done = false;
    f.waits = nullptr;
    f.shuffles = 0;
}

/// Runs every thread of block `l.block_idx` to its end; false with l.error set where the launch fails.
inline bool run_block(Launch& l)
{
    std::vector<Fiber>& fibers = *l.fibers;
    l.live = l.threads;
    l.barrier = Barrier{};
    l.barrier.expected = l.threads;
    for (std::size_t w = 0; w < l.warps.size(); w++)
    {
        l.warps[w].size = l.threads - (int)w * WarpSize < WarpSize ? l.threads - (int)w * WarpSize : WarpSize;
        l.warps[w].live = l.warps[w].size;
        l.warps[w].barrier = Barrier{};
        l.warps[w].barrier.expected = l.warps[w].size;
    }
    for (int i = 0; i < l.threads; i++)
    {
        Fiber& f = fibers[i];
        f.linear = i;
        f.idx = dim3{i % l.block.x, (i / l.block.x) % l.block.y, i / (l.block.x * l.block.y)};
        start_fiber(f);
    }
    // Between barriers the threads run in turn, first to last, then last to first: a shared-memory read that no
    // barrier orders after the write it needs sees the old value in one of the two orders.
    for (int pass = 0; l.live > 0; pass++)
    {
        std::uint64_t before = l.progress;
        for (int k = 0; k < l.threads; k++)
        {
            Fiber& f = fibers[pass % 2 == 0 ? k : l.threads - 1 - k];
            if (f.done) continue;
            l.current = &f;
            mocgen_cpu_switch(&l.scheduler_sp, f.sp);
            if (!l.error.empty()) return false;
        }
        if (l.progress == before)
        {
            std::string waits;
            for (int i = 0; i < l.threads && waits.size() < 300; i++)
                if (!fibers[i].done && (i == 0 || fibers[i].wait_line != fibers[i - 1].wait_line || fibers[i - 1].done))
                    waits += " thread " + std::to_string(i) + " at " + fibers[i].waits + " (line " +
                        std::to_string(fibers[i].wait_line) + ");";
            char text[160];
            std::snprintf(text, sizeof text, "block (%u, %u, %u): deadlock, every live thread waits:", l.block_idx.x,
                l.block_idx.y, l.block_idx.z);
            l.error = text + waits;
            l.error_code = 719;
            return false;
        }
    }
    return true;
}

// ---- Device memory ----
struct Allocation
{
    unsigned char* map;
    std::size_t map_bytes;
    std::size_t bytes;
};

inline std::mutex& memory_gate()
{
    static std::mutex gate;
    return gate;
}
inline std::map<std::uintptr_t, Allocation>& allocations()
{
    static std::map<std::uintptr_t, Allocation> all;
    return all;
}

/// The allocation [address, address + bytes) lies in, or nullptr.
inline const Allocation* find_allocation(std::uintptr_t address, std::size_t bytes)
{
    auto& all = allocations();
    auto it = all.upper_bound(address);
    if (it == all.begin()) return nullptr;
    --it;
    if (address + bytes > it->first + it->second.bytes) return nullptr;
    return &it->second;
}

/// Where `address` is relative to the buffers, for a fault message.
inline std::string describe_address(std::uintptr_t address)
{
    auto& all = allocations();
    auto it = all.upper_bound(address);
    char text[200];
    if (it != all.begin())
    {
        --it;
        if (address < it->first + it->second.bytes)
            std::snprintf(text, sizeof text, "0x%lx, byte %lu of a %lu-byte buffer", (unsigned long)address,
                (unsigned long)(address - it->first), (unsigned long)it->second.bytes);
        else
            std::snprintf(text, sizeof text, "0x%lx, %lu bytes past the end of a %lu-byte buffer", (unsigned long)address,
                (unsigned long)(address - it->first - it->second.bytes), (unsigned long)it->second.bytes);
        return text;
    }
    std::snprintf(text, sizeof text, "0x%lx, in no buffer", (unsigned long)address);
    return text;
}

// ---- Faults in kernels: a fault in a launch ends it; any other goes to the handler that was there before. ----
thread_local sigjmp_buf* t_fault_jump = nullptr;
thread_local std::uintptr_t t_fault_address = 0;
inline struct sigaction& previous_handler(int signal)
{
    static struct sigaction segv, bus;
    return signal == SIGSEGV ? segv : bus;
}

inline void on_fault(int signal, siginfo_t* info, void* context)
{
    if (t_fault_jump != nullptr)
    {
        sigjmp_buf* jump = t_fault_jump;
        t_fault_jump = nullptr;
        t_fault_address = reinterpret_cast<std::uintptr_t>(info->si_addr);
        siglongjmp(*jump, 1);
    }
    struct sigaction& before = previous_handler(signal);
    if (before.sa_flags & SA_SIGINFO)
    {
        before.sa_sigaction(signal, info, context);
        return;
    }
    if (before.sa_handler == SIG_IGN) return;
    if (before.sa_handler == SIG_DFL)
    {
        sigaction(signal, &before, nullptr);
        raise(signal);
        return;
    }
    before.sa_handler(signal);
}

inline void install_fault_handlers()
{
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action;
        std::memset(&action, 0, sizeof action);
        action.sa_sigaction = &on_fault;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&action.sa_mask);
        sigaction(SIGSEGV, &action, &previous_handler(SIGSEGV));
        sigaction(SIGBUS, &action, &previous_handler(SIGBUS));
    });
}

// ---- The driver's objects ----
/// A kernel as a module has it: the kernel compiled in, and the most threads a block its PTX allows (0: no limit).
struct Loaded
{
    const Kernel* kernel;
    dim3 max_threads;
};
struct Module
{
    std::vector<Loaded> kernels;
};
struct Function
{
    Loaded loaded;
    int max_dynamic_shared;
};
struct Event
{
    std::chrono::steady_clock::time_point at;
    bool recorded = false;
};

constexpr int SharedPerBlock = 48 * 1024;
constexpr int SharedOptin = 166912;  // sm_80: 163 KiB

inline std::string& last_launch_error()
{
    static std::string text;
    return text;
}
inline std::mutex& launch_gate()
{
    static std::mutex gate;
    return gate;
}

inline void copy_log(void** values, unsigned int count, int* options, int buffer_option, int size_option, const std::string& text)
{
    char* buffer = nullptr;
    std::size_t size = 0;
    for (unsigned int i = 0; i < count; i++)
    {
        if (options[i] == buffer_option) buffer = static_cast<char*>(values[i]);
        if (options[i] == size_option) size = reinterpret_cast<std::uintptr_t>(values[i]);
    }
    if (buffer != nullptr && size > 0)
    {
        std::size_t n = text.size() < size - 1 ? text.size() : size - 1;
        std::memcpy(buffer, text.data(), n);
        buffer[n] = 0;
    }
}

/// A kernel of the PTX: its name and the bytes of each parameter (`.param .u64 p`, `.param .align 8 .b8 p[16]`).
struct Entry
{
    std::string name;
    std::vector<std::size_t> parameter_sizes;
    dim3 max_threads{0, 0, 0};  // .maxntid (from __launch_bounds__), or none
};

/// The PTX's kernels (`.entry name( .param ..., ... )`).
inline std::vector<Entry> ptx_entries(const char* ptx)
{
    auto is_name = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$'; };
    std::vector<Entry> entries;
    for (const char* p = std::strstr(ptx, ".entry"); p != nullptr; p = std::strstr(p + 6, ".entry"))
    {
        const char* q = p + 6;
        while (*q == ' ' || *q == '\t') q++;
        const char* end = q;
        while (is_name(*end)) end++;
        if (end == q) continue;
        Entry entry{std::string(q, end), {}};
        const char* close = std::strchr(end, ')');
        for (const char* m = std::strstr(end, ".param"); m != nullptr && close != nullptr && m < close; m = std::strstr(m + 6, ".param"))
        {
            // The last type in the declaration (after any .align N) gives the element's bits; [n] repeats it.
            std::size_t bits = 0;
            const char* t = m + 6;
            while (*t != ',' && *t != ')' && *t != '\n' && *t != '[' && *t != 0)
            {
                if (*t == '.' && (t[1] == 'u' || t[1] == 's' || t[1] == 'b' || t[1] == 'f') && t[2] >= '0' && t[2] <= '9')
                    bits = (std::size_t)std::strtoul(t + 2, nullptr, 10);
                t++;
            }
            std::size_t count = *t == '[' ? (std::size_t)std::strtoul(t + 1, nullptr, 10) : 1;
            entry.parameter_sizes.push_back(bits / 8 * count);
        }
        // The directives between the parameters and the body: `.maxntid x, y, z` is the most threads a block.
        const char* body = close != nullptr ? std::strchr(close, '{') : nullptr;
        const char* limit = close != nullptr ? std::strstr(close, ".maxntid") : nullptr;
        if (limit != nullptr && body != nullptr && limit < body)
        {
            unsigned int x = 1, y = 1, z = 1;
            std::sscanf(limit + 8, " %u , %u , %u", &x, &y, &z);
            entry.max_threads = dim3{x, y, z};
        }
        entries.push_back(entry);
    }
    return entries;
}

inline std::string sizes_text(const std::vector<std::size_t>& sizes)
{
    std::string text;
    for (std::size_t size : sizes) text += (text.empty() ? "" : ", ") + std::to_string(size);
    return std::to_string(sizes.size()) + " (" + text + " bytes)";
}
} // namespace mocgen_cpu

// ---- The driver API (the CUresult codes are cuda.h's) ----
using mocgen_cpu::dim3;

MOCGEN_CPU_API int cuInit(unsigned int) { mocgen_cpu::install_fault_handlers(); return 0; }
MOCGEN_CPU_API int cuDriverGetVersion(int* version) { *version = 12000; return 0; }

MOCGEN_CPU_API int cuGetErrorName(int error, const char** text)
{
    switch (error)
    {
    case 0: *text = "CUDA_SUCCESS"; return 0;
    case 1: *text = "CUDA_ERROR_INVALID_VALUE"; return 0;
    case 2: *text = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
    case 101: *text = "CUDA_ERROR_INVALID_DEVICE"; return 0;
    case 200: *text = "CUDA_ERROR_INVALID_IMAGE"; return 0;
    case 218: *text = "CUDA_ERROR_INVALID_PTX"; return 0;
    case 400: *text = "CUDA_ERROR_INVALID_HANDLE"; return 0;
    case 500: *text = "CUDA_ERROR_NOT_FOUND"; return 0;
    case 700: *text = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
    case 701: *text = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; return 0;
    case 719: *text = "CUDA_ERROR_LAUNCH_FAILED"; return 0;
    case 801: *text = "CUDA_ERROR_NOT_SUPPORTED"; return 0;
    default: *text = nullptr; return 1;
    }
}

MOCGEN_CPU_API int cuGetErrorString(int error, const char** text)
{
    static std::string described;
    const char* base;
    switch (error)
    {
    case 0: base = "no error"; break;
    case 1: base = "invalid argument"; break;
    case 2: base = "out of memory"; break;
    case 101: base = "invalid device ordinal"; break;
    case 200: base = "device kernel image is invalid"; break;
    case 218: base = "a PTX JIT compilation failed"; break;
    case 400: base = "invalid resource handle"; break;
    case 500: base = "named symbol not found"; break;
    case 700: base = "an illegal memory access was encountered"; break;
    case 701: base = "too many resources requested for launch"; break;
    case 719: base = "unspecified launch failure"; break;
    case 801: base = "operation not supported"; break;
    default: *text = nullptr; return 1;
    }
    const std::string& last = mocgen_cpu::last_launch_error();
    described = last.empty() || (error != 700 && error != 719 && error != 1) ? std::string(base) : std::string(base) + " (CPU driver: " + last + ")";
    *text = described.c_str();
    return 0;
}

MOCGEN_CPU_API int cuDeviceGetCount(int* count) { *count = 1; return 0; }
MOCGEN_CPU_API int cuDeviceGet(int* device, int ordinal)
{
    if (ordinal != 0) return 101;
    *device = 0;
    return 0;
}
MOCGEN_CPU_API int cuDeviceGetName(char* name, int length, int device)
{
    if (device != 0) return 101;
    std::snprintf(name, (std::size_t)length, "MoCGen CPU driver (kernels run on the CPU, sm_80 limits)");
    return 0;
}
MOCGEN_CPU_API int cuDeviceGetAttribute(int* value, int attribute, int device)
{
    if (device != 0) return 101;
    switch (attribute)
    {
    case 8: *value = mocgen_cpu::SharedPerBlock; return 0;  // MAX_SHARED_MEMORY_PER_BLOCK
    case 16: *value = 108; return 0;  // MULTIPROCESSOR_COUNT
    case 36: *value = 1593000; return 0;  // MEMORY_CLOCK_RATE (kHz)
    case 37: *value = 5120; return 0;  // GLOBAL_MEMORY_BUS_WIDTH
    case 75: *value = 8; return 0;  // COMPUTE_CAPABILITY_MAJOR
    case 76: *value = 0; return 0;  // COMPUTE_CAPABILITY_MINOR
    case 97: *value = mocgen_cpu::SharedOptin; return 0;  // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    default: return 1;
    }
}
MOCGEN_CPU_API int cuDeviceTotalMem_v2(std::size_t* bytes, int device)
{
    if (device != 0) return 101;
    *bytes = (std::size_t)sysconf(_SC_PHYS_PAGES) * (std::size_t)sysconf(_SC_PAGESIZE);
    return 0;
}

static int mocgen_cpu_context;
MOCGEN_CPU_API int cuDevicePrimaryCtxRetain(void** context, int device)
{
    if (device != 0) return 101;
    *context = &mocgen_cpu_context;
    return 0;
}
MOCGEN_CPU_API int cuDevicePrimaryCtxRelease_v2(int device) { return device == 0 ? 0 : 101; }
MOCGEN_CPU_API int cuCtxCreate_v2(void** context, unsigned int, int device) { return cuDevicePrimaryCtxRetain(context, device); }
MOCGEN_CPU_API int cuCtxDestroy_v2(void*) { return 0; }
MOCGEN_CPU_API int cuCtxSetCurrent(void*) { return 0; }
MOCGEN_CPU_API int cuCtxSynchronize() { return 0; }

MOCGEN_CPU_API int cuMemAlloc_v2(std::uint64_t* pointer, std::size_t bytes)
{
    if (bytes == 0) return 1;
    std::size_t page = (std::size_t)sysconf(_SC_PAGESIZE);
    std::size_t rounded = (bytes + 255) / 256 * 256;
    std::size_t pages = (rounded + page - 1) / page;
    std::size_t map_bytes = (pages + 1) * page;
    void* m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 2;
    auto* map = static_cast<unsigned char*>(m);
    mprotect(map + pages * page, page, PROT_NONE);  // reading past the end (and the 256-byte rounding) faults
    unsigned char* start = map + pages * page - rounded;
    std::memset(start, 0xff, rounded);
    std::lock_guard<std::mutex> lock(mocgen_cpu::memory_gate());
    mocgen_cpu::allocations()[reinterpret_cast<std::uintptr_t>(start)] = mocgen_cpu::Allocation{map, map_bytes, bytes};
    *pointer = reinterpret_cast<std::uintptr_t>(start);
    return 0;
}

MOCGEN_CPU_API int cuMemFree_v2(std::uint64_t pointer)
{
    std::lock_guard<std::mutex> lock(mocgen_cpu::memory_gate());
    auto& all = mocgen_cpu::allocations();
    auto it = all.find((std::uintptr_t)pointer);
    if (it == all.end()) return 1;
    munmap(it->second.map, it->second.map_bytes);
    all.erase(it);
    return 0;
}

static int mocgen_cpu_check_range(std::uint64_t device, std::size_t bytes)
{
    std::lock_guard<std::mutex> lock(mocgen_cpu::memory_gate());
    return mocgen_cpu::find_allocation((std::uintptr_t)device, bytes) != nullptr ? 0 : 1;
}

MOCGEN_CPU_API int cuMemcpyHtoD_v2(std::uint64_t device, const void* host, std::size_t bytes)
{
    if (int r = mocgen_cpu_check_range(device, bytes)) return r;
    std::memcpy(reinterpret_cast<void*>(device), host, bytes);
    return 0;
}
MOCGEN_CPU_API int cuMemcpyDtoH_v2(void* host, std::uint64_t device, std::size_t bytes)
{
    if (int r = mocgen_cpu_check_range(device, bytes)) return r;
    std::memcpy(host, reinterpret_cast<const void*>(device), bytes);
    return 0;
}
MOCGEN_CPU_API int cuMemsetD8_v2(std::uint64_t device, unsigned char value, std::size_t count)
{
    if (int r = mocgen_cpu_check_range(device, count)) return r;
    std::memset(reinterpret_cast<void*>(device), value, count);
    return 0;
}

MOCGEN_CPU_API int cuModuleLoadDataEx(void** module, const void* image, unsigned int count, int* options, void** values)
{
    const char* text = static_cast<const char*>(image);
    if (text[0] == 0x7f && text[1] == 'E' && text[2] == 'L' && text[3] == 'F')
    {
        mocgen_cpu::copy_log(values, count, options, 5, 6, "the CPU driver loads PTX, not cubin");
        return 200;
    }
    auto loaded = std::make_unique<mocgen_cpu::Module>();
    std::string missing, differing;
    for (const mocgen_cpu::Entry& entry : mocgen_cpu::ptx_entries(text))
    {
        auto it = mocgen_cpu::registry().find(entry.name);
        if (it == mocgen_cpu::registry().end())
            missing += (missing.empty() ? "" : ", ") + entry.name;
        else if (it->second.parameter_sizes != entry.parameter_sizes)
            differing += (differing.empty() ? "" : "; ") + entry.name + ": the PTX declares " + mocgen_cpu::sizes_text(entry.parameter_sizes) +
                " parameters, the kernel compiled in takes " + mocgen_cpu::sizes_text(it->second.parameter_sizes);
        else
            loaded->kernels.push_back(mocgen_cpu::Loaded{&it->second, entry.max_threads});
    }
    if (!missing.empty() || !differing.empty())
    {
        mocgen_cpu::copy_log(values, count, options, 5, 6,
            (missing.empty() ? "" : "the CPU driver was not built with these kernels of the PTX: " + missing + ". ") + differing +
                (differing.empty() ? "" : ". ") + "Build it with `mocgen cuda-cpu` from the files that declare the models.");
        return 218;
    }
    mocgen_cpu::copy_log(values, count, options, 3, 4,
        "CPU driver: " + std::to_string(loaded->kernels.size()) + " kernel(s) run on the CPU");
    *module = loaded.release();
    return 0;
}

MOCGEN_CPU_API int cuModuleGetFunction(void** function, void* module, const char* name)
{
    if (module == nullptr) return 400;
    for (const mocgen_cpu::Loaded& loaded : static_cast<mocgen_cpu::Module*>(module)->kernels)
        if (loaded.kernel->name == name)
        {
            *function = new mocgen_cpu::Function{loaded, mocgen_cpu::SharedPerBlock};
            return 0;
        }
    return 500;
}
MOCGEN_CPU_API int cuModuleUnload(void* module)
{
    delete static_cast<mocgen_cpu::Module*>(module);
    return 0;
}
MOCGEN_CPU_API int cuFuncSetAttribute(void* function, int attribute, int value)
{
    if (function == nullptr) return 400;
    if (attribute != 8) return 801;  // only MAX_DYNAMIC_SHARED_SIZE_BYTES
    if (value < 0 || value > mocgen_cpu::SharedOptin) return 1;
    static_cast<mocgen_cpu::Function*>(function)->max_dynamic_shared = value;
    return 0;
}

MOCGEN_CPU_API int cuLaunchKernel(void* function, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
    unsigned int by, unsigned int bz, unsigned int shared_bytes, void*, void** params, void** extra)
{
    using namespace mocgen_cpu;
    if (function == nullptr) return 400;
    auto* f = static_cast<Function*>(function);
    std::lock_guard<std::mutex> lock(launch_gate());
    last_launch_error().clear();
    auto refuse = [&](int code, const std::string& why) {
        last_launch_error() = f->loaded.kernel->name + ": " + why;
        std::fprintf(stderr, "mocgen CPU driver: %s\n", last_launch_error().c_str());
        return code;
    };
    if (extra != nullptr) return refuse(801, "launch parameters through `extra` are not supported");
    unsigned long threads = (unsigned long)bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || threads == 0 || threads > 1024 || bz > 64)
        return refuse(1, "grid (" + std::to_string(gx) + ", " + std::to_string(gy) + ", " + std::to_string(gz) + ") of blocks (" +
            std::to_string(bx) + ", " + std::to_string(by) + ", " + std::to_string(bz) + ") is not a valid launch");
    dim3 most = f->loaded.max_threads;
    if (most.x != 0 && (bx > most.x || by > most.y || bz > most.z))
        return refuse(1, "blocks of (" + std::to_string(bx) + ", " + std::to_string(by) + ", " + std::to_string(bz) + ") threads, above the (" +
            std::to_string(most.x) + ", " + std::to_string(most.y) + ", " + std::to_string(most.z) +
            ") its PTX allows (.maxntid, from __launch_bounds__)");
    if ((int)shared_bytes > f->max_dynamic_shared)
        return refuse(1, std::to_string(shared_bytes) + " bytes of dynamic shared memory, above the " +
            std::to_string(f->max_dynamic_shared) + " the function allows (cuFuncSetAttribute)");

    Launch l;
    l.kernel = f->loaded.kernel;
    l.params = params;
    l.grid = dim3{gx, gy, gz};
    l.block = dim3{bx, by, bz};
    l.threads = (int)threads;
    l.fibers = &fibers_for(l.threads);
    l.warps.resize((threads + WarpSize - 1) / WarpSize);
    std::vector<unsigned char> shared_memory(shared_bytes + 16);
    unsigned char* shared = shared_memory.data() + ((16 - reinterpret_cast<std::uintptr_t>(shared_memory.data()) % 16) % 16);
    l.shared = shared;

    Launch* outer = t_launch;
    t_launch = &l;
    sigjmp_buf jump;
    bool ok = true;
    if (sigsetjmp(jump, 0) == 0)
    {
        // The blocks run one after another in an order that changes from launch to launch (block offset + k stride,
        // stride a prime that does not divide their number): on a GPU any block may run before any other, so no
        // kernel may depend on an order, and the last block of a launch is not always the same one.
        static unsigned long launches = 0;
        unsigned long blocks = (unsigned long)gx * gy * gz;
        unsigned long stride = blocks % 7919 != 0 ? 7919 : 104729;
        unsigned long offset = (launches++ * 40503ul) % blocks;
        for (unsigned long k = 0; k < blocks && ok; k++)
        {
            unsigned long b = (offset + k * stride) % blocks;
            l.block_idx = dim3{(unsigned int)(b % gx), (unsigned int)(b / gx % gy), (unsigned int)(b / ((unsigned long)gx * gy))};
            std::memset(shared, 0xff, shared_bytes);
            t_fault_jump = &jump;
            ok = run_block(l);
            t_fault_jump = nullptr;
        }
    }
    else
    {
        // A fault in a fiber: the handler jumped back here, onto this thread's own stack.
        std::lock_guard<std::mutex> memory(memory_gate());
        char where[200];
        std::snprintf(where, sizeof where, "block (%u, %u, %u), thread (%u, %u, %u): invalid memory access at ", l.block_idx.x,
            l.block_idx.y, l.block_idx.z, l.current->idx.x, l.current->idx.y, l.current->idx.z);
        l.error = std::string(where) + describe_address(t_fault_address);
        l.error_code = 700;
        ok = false;
    }
    t_launch = outer;
    if (ok) return 0;
    return refuse(l.error_code, l.error);
}

MOCGEN_CPU_API int cuStreamCreate(void** stream, unsigned int)
{
    *stream = new int(0);
    return 0;
}
MOCGEN_CPU_API int cuStreamSynchronize(void*) { return 0; }
MOCGEN_CPU_API int cuStreamDestroy_v2(void* stream)
{
    delete static_cast<int*>(stream);
    return 0;
}

MOCGEN_CPU_API int cuEventCreate(void** event, unsigned int)
{
    *event = new mocgen_cpu::Event();
    return 0;
}
MOCGEN_CPU_API int cuEventRecord(void* event, void*)
{
    auto* e = static_cast<mocgen_cpu::Event*>(event);
    e->at = std::chrono::steady_clock::now();
    e->recorded = true;
    return 0;
}
MOCGEN_CPU_API int cuEventSynchronize(void*) { return 0; }
MOCGEN_CPU_API int cuEventElapsedTime(float* milliseconds, void* start, void* end)
{
    auto* a = static_cast<mocgen_cpu::Event*>(start);
    auto* b = static_cast<mocgen_cpu::Event*>(end);
    if (!a->recorded || !b->recorded) return 1;
    *milliseconds = std::chrono::duration<float, std::milli>(b->at - a->at).count();
    return 0;
}
MOCGEN_CPU_API int cuEventDestroy_v2(void* event)
{
    delete static_cast<mocgen_cpu::Event*>(event);
    return 0;
}

#endif // MOCGEN_CPU_DRIVER_H
