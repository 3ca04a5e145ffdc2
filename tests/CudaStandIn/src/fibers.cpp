// fibers.cpp — CUDA threads as fibers. A block's threads run on one OS thread, one at a time: each runs until it
// reaches __syncthreads() (it is suspended there) or returns. When every live thread of the block is at the barrier,
// the next phase starts and they are resumed, again one at a time. The order within each phase is a permutation
// drawn from the launch's seed, so a kernel that needs a barrier it does not have (or reads what another thread
// writes in the same phase) gives different results under different seeds, and different from the GPU's.
//
// Threads that finish without ever suspending give their stack straight back, so a barrier-free kernel of a million
// threads needs one stack and two context switches a thread. The switch is a few instructions of assembly on x86-64
// (callee-saved registers, the stack pointer, MXCSR and the x87 control word: no signal mask, no system call);
// other architectures use ucontext.
//
// A barrier that some threads of a block reach while others have already returned is an error (compute-sanitizer's
// synccheck reports it; on the GPU it hangs or corrupts shared memory): the launch fails with CUDA_ERROR_LAUNCH_FAILED.
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include "../include/vector_types.h"
#include "standin.h"

namespace fg_standin
{
thread_local uint3 t_thread_idx;
thread_local uint3 t_block_idx;
thread_local dim3 t_block_dim;
thread_local dim3 t_grid_dim;
}

#if defined(__x86_64__)
// void fg_standin_switch(void** save_sp, void* load_sp): saves this context's callee-saved state on its stack, stores
// the stack pointer in *save_sp, and resumes the context whose stack pointer is load_sp.
// A new context's stack holds, from load_sp up: MXCSR and x87 control word, r15, r14, r13 (the argument), r12 (the
// entry function), rbx, rbp, and the trampoline's address, which `ret` jumps to.
extern "C" void fg_standin_switch(void** save_sp, void* load_sp);
extern "C" void fg_standin_trampoline();
__asm__(R"(
    .text
    .globl fg_standin_switch
    .type fg_standin_switch, @function
fg_standin_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size fg_standin_switch, .-fg_standin_switch

    .globl fg_standin_trampoline
    .type fg_standin_trampoline, @function
fg_standin_trampoline:
    movq %r13, %rdi
    callq *%r12
    ud2
    .size fg_standin_trampoline, .-fg_standin_trampoline
)");
#endif

namespace fg_standin
{
namespace
{
constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;

struct Stack
{
    char* base;  // lowest address (the guard page)
    char* top() const { return base + kGuardBytes + kStackBytes; }
};

enum class FiberState
{
    Running,
    AtBarrier,
    Done,
};

struct Fiber
{
    uint3 index{};
    FiberState state = FiberState::Running;
    Stack stack{};
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t context{};
#endif
};

struct Scheduler
{
    PreparedLaunch* launch = nullptr;
    Fiber* current = nullptr;
    std::vector<Stack> free_stacks;
#if defined(__x86_64__)
    void* scheduler_sp = nullptr;
#else
    ucontext_t scheduler_context{};
#endif
};

thread_local Scheduler t_scheduler;

Stack take_stack(Scheduler& s)
{
    if (!s.free_stacks.empty())
    {
        Stack stack = s.free_stacks.back();
        s.free_stacks.pop_back();
        return stack;
    }
    void* p = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
    {
        std::fprintf(stderr, "cuda stand-in: out of memory for fiber stacks\n");
        std::abort();
    }
    // A stack overflow faults instead of silently corrupting the next stack.
    mprotect(p, kGuardBytes, PROT_NONE);
    return Stack{static_cast<char*>(p)};
}

// The fiber's body: run the kernel for this CUDA thread, then hand control back for good.
void fiber_main(void*)
{
    Scheduler& s = t_scheduler;
    s.launch->run_thread();
    s.current->state = FiberState::Done;
#if defined(__x86_64__)
    void* unused = nullptr;
    fg_standin_switch(&unused, s.scheduler_sp);
#else
    swapcontext(&s.current->context, &s.scheduler_context);
#endif
    std::abort();  // a finished fiber is never resumed
}

#if !defined(__x86_64__)
void fiber_entry_ucontext() { fiber_main(nullptr); }
#endif

void start(Scheduler& s, Fiber& f)
{
    f.stack = take_stack(s);
    f.state = FiberState::Running;
    s.current = &f;
    t_thread_idx = f.index;
#if defined(__x86_64__)
    auto* frame = reinterpret_cast<uint64_t*>(f.stack.top()) - 8;
    const uint32_t mxcsr = 0x1F80;  // round to nearest, all exceptions masked (the ABI's initial state)
    const uint16_t fpcw = 0x037F;
    std::memcpy(&frame[0], &mxcsr, 4);
    std::memcpy(reinterpret_cast<char*>(&frame[0]) + 4, &fpcw, 2);
    frame[1] = 0;                                                       // r15
    frame[2] = 0;                                                       // r14
    frame[3] = 0;                                                       // r13: argument
    frame[4] = reinterpret_cast<uint64_t>(&fiber_main);                 // r12: entry
    frame[5] = 0;                                                       // rbx
    frame[6] = 0;                                                       // rbp
    frame[7] = reinterpret_cast<uint64_t>(&fg_standin_trampoline);      // return address
    fg_standin_switch(&s.scheduler_sp, frame);
#else
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.base + kGuardBytes;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_entry_ucontext, 0);
    swapcontext(&s.scheduler_context, &f.context);
#endif
}

void resume(Scheduler& s, Fiber& f)
{
    f.state = FiberState::Running;
    s.current = &f;
    t_thread_idx = f.index;
#if defined(__x86_64__)
    fg_standin_switch(&s.scheduler_sp, f.sp);
#else
    swapcontext(&s.scheduler_context, &f.context);
#endif
}

// splitmix64: a small, good generator for the permutations.
struct Random
{
    uint64_t state;
    uint64_t next()
    {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    template <typename T>
    void shuffle(std::vector<T>& items)
    {
        for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[next() % i]);
    }
};
}  // namespace

void sync_threads()
{
    Scheduler& s = t_scheduler;
    Fiber* f = s.current;
    if (f == nullptr)
    {
        std::fprintf(stderr, "cuda stand-in: __syncthreads() outside a kernel\n");
        std::abort();
    }
    f->state = FiberState::AtBarrier;
#if defined(__x86_64__)
    fg_standin_switch(&f->sp, s.scheduler_sp);
#else
    swapcontext(&f->context, &s.scheduler_context);
#endif
    // Resumed by the scheduler in the next phase, which has set t_thread_idx to ours again.
}

int run_grid(const KernelInfo& kernel, PreparedLaunch& launch, Dim grid, Dim block, uint64_t seed)
{
    Scheduler& s = t_scheduler;
    s.launch = &launch;
    t_grid_dim = dim3(grid.x, grid.y, grid.z);
    t_block_dim = dim3(block.x, block.y, block.z);
    const size_t threads = size_t(block.x) * block.y * block.z;
    std::vector<Fiber> fibers(threads);
    for (size_t t = 0; t < threads; ++t)
    {
        fibers[t].index = uint3{unsigned(t % block.x), unsigned(t / block.x % block.y), unsigned(t / (size_t(block.x) * block.y))};
    }
    std::vector<uint32_t> order(threads), waiting, next;
    int status = kSuccess;
    uint64_t block_number = 0;
    for (unsigned bz = 0; bz < grid.z && status == kSuccess; ++bz)
        for (unsigned by = 0; by < grid.y && status == kSuccess; ++by)
            for (unsigned bx = 0; bx < grid.x && status == kSuccess; ++bx, ++block_number)
            {
                t_block_idx = uint3{bx, by, bz};
                Random random{seed ^ (block_number * 0xD1B54A32D192ED03ull)};
                for (size_t t = 0; t < threads; ++t) order[t] = uint32_t(t);
                random.shuffle(order);
                waiting.clear();
                size_t finished = 0;
                for (uint32_t t : order)
                {
                    Fiber& f = fibers[t];
                    start(s, f);
                    if (f.state == FiberState::Done)
                    {
                        s.free_stacks.push_back(f.stack);
                        ++finished;
                    }
                    else
                    {
                        waiting.push_back(t);
                    }
                }
                int phase = 1;
                while (!waiting.empty())
                {
                    if (finished > 0)
                    {
                        status = fail(kErrorLaunchFailed,
                            std::string(kernel.name) + ": block (" + std::to_string(bx) + ", " + std::to_string(by) + ", " +
                                std::to_string(bz) + "): " + std::to_string(waiting.size()) + " of " + std::to_string(threads) +
                                " threads wait at __syncthreads() number " + std::to_string(phase) +
                                " that the other threads never reach (they returned): a barrier in divergent code");
                        // The suspended fibers are abandoned: kernel code owns nothing that needs unwinding.
                        for (uint32_t t : waiting) s.free_stacks.push_back(fibers[t].stack);
                        break;
                    }
                    random.shuffle(waiting);
                    next.clear();
                    for (uint32_t t : waiting)
                    {
                        Fiber& f = fibers[t];
                        resume(s, f);
                        if (f.state == FiberState::Done)
                        {
                            s.free_stacks.push_back(f.stack);
                            ++finished;
                        }
                        else
                        {
                            next.push_back(t);
                        }
                    }
                    waiting.swap(next);
                    ++phase;
                }
            }
    s.current = nullptr;
    s.launch = nullptr;
    return status;
}

}  // namespace fg_standin
