// standin.h — what the parts of the CUDA stand-in share: error codes and their detailed messages, device memory
// (its own address range, guard zones), streams (a worker thread each, stream capture into graphs) and the kernel
// table. The stand-in proves correctness, never speed: every entry point does the simplest correct thing behind the
// real signature and the real error codes, and turns what compute-sanitizer would report into a hard error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fg_standin
{
// ---- CUresult values (cuda.h)
enum : int
{
    kSuccess = 0,
    kErrorInvalidValue = 1,
    kErrorOutOfMemory = 2,
    kErrorNotInitialized = 3,
    kErrorNoDevice = 100,
    kErrorInvalidDevice = 101,
    kErrorInvalidImage = 200,
    kErrorInvalidContext = 201,
    kErrorInvalidHandle = 400,
    kErrorIllegalState = 401,
    kErrorNotFound = 500,
    kErrorNotReady = 600,
    kErrorIllegalAddress = 700,
    kErrorLaunchOutOfResources = 701,
    kErrorMisalignedAddress = 716,
    kErrorLaunchFailed = 719,
    kErrorStreamCaptureUnsupported = 900,
    kErrorStreamCaptureInvalidated = 901,
    kErrorStreamCaptureImplicit = 906,
    kErrorCapturedEvent = 907,
    kErrorStreamCaptureWrongThread = 908,
    kErrorUnknown = 999,
};

// Records why `code` was returned (cuGetErrorString then gives the standard text and this detail), prints it to
// stderr, and returns `code`.
int fail(int code, const std::string& detail);

// The detail recorded last for `code`, or "" (a pointer that stays valid for the life of the process).
const char* last_detail(int code);

// Whether cuInit has succeeded, and whether a context is current on this thread.
bool initialized();
bool context_current();

// "0x7f..." for messages.
std::string hex(uintptr_t value);

// ---- device memory: allocations in the stand-in's own mapped range, 256-byte aligned, each between guard zones
struct Allocation
{
    uintptr_t data = 0;   // what cuMemAlloc returned
    size_t bytes = 0;     // what was asked for
    uint64_t serial = 0;  // allocation number, for messages
    std::string last_user;  // the kernel or library call that last wrote through it
};

// True when [p, p + bytes) lies inside one live allocation (bytes = 0: p inside it or one past its end).
bool device_range(uintptr_t p, size_t bytes, Allocation* found = nullptr);
bool in_device_arena(uintptr_t p);
// Why [p, p + bytes) is not usable device memory, or "" when it is.
std::string device_range_problem(uintptr_t p, size_t bytes);
// Remembers `user` as the last writer of the allocation holding p (for guard-zone reports).
void note_user(uintptr_t p, const char* user);
// Checks the guard zones of the allocation holding p (or of every live allocation when p = 0); on damage repairs
// them and returns a description naming the allocation and its last writer, else "".
std::string check_guards(uintptr_t p);
// Pinned host memory from cuMemAllocHost.
bool pinned_host(uintptr_t p, size_t bytes);

// ---- streams
// One unit of queued work; returns a CUresult (non-zero after fail() recorded why).
using Work = std::function<int()>;

struct Task
{
    std::string what;
    Work work;
};

struct Stream;

// The stream behind a CUstream handle: nullptr for the legacy default stream (handle 0, CU_STREAM_LEGACY,
// CU_STREAM_PER_THREAD). Sets *status to CUDA_ERROR_INVALID_HANDLE for an unknown handle.
Stream* resolve_stream(void* handle, int* status);

// Queues `task` on `stream`, or records it into the stream's capture, or (legacy stream) runs it at once after the
// blocking streams have drained. `capturable` false: refused during capture (and the capture invalidated).
int submit(Stream* stream, Task task);

// Whether the stream is being captured (the legacy stream never is).
bool capturing(Stream* stream);

// Refuses (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, invalidating the capture) a call that a stream capture forbids on
// this thread: allocation, freeing, synchronous copies. Returns kSuccess when nothing captures.
int check_unsafe_during_capture(const char* call);

// Waits until every stream is idle, leaving their errors to be reported by their own synchronization.
void wait_all_idle();

// Waits until every stream is idle (a device-wide synchronization), returns the first pending error.
int synchronize_all();

// ---- kernels: the host-compiled kernels/*.cu, in a table generated from their extern "C" __global__ definitions
struct PointerArg
{
    int index;
    uintptr_t value;
    size_t align;
};

// One launch's arguments, copied out of the caller's void** at launch time (as cuLaunchKernel does).
struct PreparedLaunch
{
    virtual ~PreparedLaunch() = default;
    virtual void run_thread() = 0;
    std::vector<PointerArg> pointers;
};

struct KernelInfo
{
    const char* name;
    unsigned max_threads;  // __launch_bounds__, 0 when none
    int arg_count;
    std::unique_ptr<PreparedLaunch> (*prepare)(void** params);
};

// Every kernel compiled into the stand-in.
const std::vector<KernelInfo>& kernels();

struct Dim
{
    unsigned x, y, z;
};

// Runs every block of a launch on this thread: each CUDA thread a fiber, barriers real, the order in which threads run
// between barriers shuffled by `seed`. Returns kSuccess or a recorded failure (a barrier not reached by every thread).
int run_grid(const KernelInfo& kernel, PreparedLaunch& launch, Dim grid, Dim block, uint64_t seed);

}  // namespace fg_standin
