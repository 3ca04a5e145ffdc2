// driver.cpp — the driver API entry points the bindings use (src/FinGen.Native.Cuda/Interop/Driver.cs): one device
// that says it is a stand-in, its primary context, memory and copies, modules and launches. Streams, events and
// graphs are streams.cpp's.
//
// cuLaunchKernel checks what the GPU would only fail on later, or never: the grid and block shape (CUDA's limits and
// the kernel's __launch_bounds__), and every pointer argument (null, or inside a live device allocation and aligned
// for its type; a host pointer is refused). Arguments are copied at launch, by the kernel's own parameter types. After
// the kernel ran, the guard zones of the allocations it was given are checked, so an out-of-bounds write is reported
// naming the kernel.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "standin.h"

namespace fg_standin
{
int allocate_device(uint64_t* out, size_t bytes);
int free_device(uint64_t pointer, std::string* guard_report);
int allocate_pinned(void** out, size_t bytes);
int free_pinned(void* p);
size_t arena_bytes();
uint64_t launch_seed();

namespace
{
std::atomic<bool> g_initialized{false};
int g_primary_refs = 0;
std::mutex g_context_mutex;
// The one context: any non-null, stable address will do.
char g_primary_context;
thread_local void* t_current_context = nullptr;

constexpr const char* kDeviceName = "FinGen CPU stand-in (not a GPU: proves correctness, never speed)";

struct Module
{
    const void* image;
};

std::mutex g_module_mutex;
std::map<void*, std::unique_ptr<Module>> g_modules;

// A fatbin (fatBinaryCtl magic), a cubin (ELF), PTX text, or the stand-in's own image (tests/CudaStandIn writes one).
bool looks_like_image(const void* image)
{
    // The image must still be mapped: a freed large image is unmapped, and reading it would crash the process.
    const long page = sysconf(_SC_PAGESIZE);
    unsigned char resident;
    void* start = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(image) & ~uintptr_t(page - 1));
    if (mincore(start, size_t(page), &resident) != 0) return false;
    const auto* bytes = static_cast<const unsigned char*>(image);
    static const unsigned char fatbin[4] = {0x50, 0xED, 0x55, 0xBA};
    static const unsigned char elf[4] = {0x7F, 'E', 'L', 'F'};
    return std::memcmp(bytes, fatbin, 4) == 0 || std::memcmp(bytes, elf, 4) == 0 || std::memcmp(bytes, "FGSTANDIN", 9) == 0 ||
           std::memcmp(bytes, "//", 2) == 0 || std::memcmp(bytes, ".version", 8) == 0;
}

// The last accepted launch of each kernel (its grid.x and block.x), for fgStandInLastLaunch.
struct LaunchShape
{
    unsigned grid_x, block_x;
};
std::mutex g_launch_mutex;
std::map<const KernelInfo*, LaunchShape> g_last_launch;

bool known_kernel(const void* function)
{
    const auto& table = kernels();
    return !table.empty() && function >= static_cast<const void*>(&table.front()) && function <= static_cast<const void*>(&table.back());
}

int copy_check(const char* call, uintptr_t device, size_t bytes)
{
    std::string problem = device_range_problem(device, bytes);
    return problem.empty() ? kSuccess : fail(kErrorInvalidValue, std::string(call) + ": device side " + problem);
}

int host_check(const char* call, const void* host)
{
    if (host == nullptr) return fail(kErrorInvalidValue, std::string(call) + ": null host pointer");
    if (in_device_arena(reinterpret_cast<uintptr_t>(host)))
        return fail(kErrorInvalidValue, std::string(call) + ": " + hex(reinterpret_cast<uintptr_t>(host)) + " is device memory where host memory belongs");
    return kSuccess;
}
}  // namespace

bool initialized() { return g_initialized.load(); }

bool context_current() { return t_current_context != nullptr; }

int run_kernel_task(const KernelInfo& kernel, const std::shared_ptr<PreparedLaunch>& launch, Dim grid, Dim block)
{
    // Checked again when the work runs: a replayed graph may name memory freed since its capture.
    for (const PointerArg& p : launch->pointers)
    {
        if (p.value == 0) continue;
        if (std::string problem = device_range_problem(p.value, 0); !problem.empty())
            return fail(kErrorIllegalAddress, std::string(kernel.name) + ": argument " + std::to_string(p.index) + ": " + problem);
    }
    for (const PointerArg& p : launch->pointers)
        if (p.value != 0) note_user(p.value, kernel.name);
    int status = run_grid(kernel, *launch, grid, block, launch_seed());
    for (const PointerArg& p : launch->pointers)
    {
        if (p.value == 0) continue;
        if (std::string problem = check_guards(p.value); !problem.empty())
        {
            const int failed = fail(kErrorIllegalAddress, std::string(kernel.name) + " wrote out of bounds: " + problem);
            if (status == kSuccess) status = failed;
        }
    }
    return status;
}

}  // namespace fg_standin

using namespace fg_standin;

extern "C" {

int cuStreamSynchronize(void* stream);  // streams.cpp

// ---- initialization, version, errors

int cuInit(unsigned flags)
{
    if (flags != 0) return fail(kErrorInvalidValue, "cuInit: flags must be 0");
    g_initialized = true;
    return kSuccess;
}

int cuDriverGetVersion(int* version)
{
    if (version == nullptr) return kErrorInvalidValue;
    *version = 13000;
    return kSuccess;
}

int cuGetErrorName(int error, const char** name)
{
    if (name == nullptr) return kErrorInvalidValue;
    switch (error)
    {
        case kSuccess: *name = "CUDA_SUCCESS"; break;
        case kErrorInvalidValue: *name = "CUDA_ERROR_INVALID_VALUE"; break;
        case kErrorOutOfMemory: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
        case kErrorNotInitialized: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
        case kErrorNoDevice: *name = "CUDA_ERROR_NO_DEVICE"; break;
        case kErrorInvalidDevice: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
        case kErrorInvalidImage: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
        case kErrorInvalidContext: *name = "CUDA_ERROR_INVALID_CONTEXT"; break;
        case kErrorInvalidHandle: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
        case kErrorIllegalState: *name = "CUDA_ERROR_ILLEGAL_STATE"; break;
        case kErrorNotFound: *name = "CUDA_ERROR_NOT_FOUND"; break;
        case kErrorNotReady: *name = "CUDA_ERROR_NOT_READY"; break;
        case kErrorIllegalAddress: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
        case kErrorLaunchOutOfResources: *name = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; break;
        case kErrorMisalignedAddress: *name = "CUDA_ERROR_MISALIGNED_ADDRESS"; break;
        case kErrorLaunchFailed: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
        case kErrorStreamCaptureUnsupported: *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
        case kErrorStreamCaptureInvalidated: *name = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; break;
        case kErrorStreamCaptureImplicit: *name = "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"; break;
        case kErrorCapturedEvent: *name = "CUDA_ERROR_CAPTURED_EVENT"; break;
        case kErrorStreamCaptureWrongThread: *name = "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"; break;
        case kErrorUnknown: *name = "CUDA_ERROR_UNKNOWN"; break;
        default: *name = nullptr; return kErrorInvalidValue;
    }
    return kSuccess;
}

int cuGetErrorString(int error, const char** text)
{
    if (text == nullptr) return kErrorInvalidValue;
    const char* base;
    switch (error)
    {
        case kSuccess: base = "no error"; break;
        case kErrorInvalidValue: base = "invalid argument"; break;
        case kErrorOutOfMemory: base = "out of memory"; break;
        case kErrorNotInitialized: base = "initialization error"; break;
        case kErrorNoDevice: base = "no CUDA-capable device is detected"; break;
        case kErrorInvalidDevice: base = "invalid device ordinal"; break;
        case kErrorInvalidImage: base = "device kernel image is invalid"; break;
        case kErrorInvalidContext: base = "invalid device context"; break;
        case kErrorInvalidHandle: base = "invalid resource handle"; break;
        case kErrorIllegalState: base = "the operation cannot be performed in the present state"; break;
        case kErrorNotFound: base = "named symbol not found"; break;
        case kErrorNotReady: base = "device not ready"; break;
        case kErrorIllegalAddress: base = "an illegal memory access was encountered"; break;
        case kErrorLaunchOutOfResources: base = "too many resources requested for launch"; break;
        case kErrorMisalignedAddress: base = "misaligned address"; break;
        case kErrorLaunchFailed: base = "unspecified launch failure"; break;
        case kErrorStreamCaptureUnsupported: base = "operation not permitted when stream is capturing"; break;
        case kErrorStreamCaptureInvalidated: base = "operation failed due to a previous error during capture"; break;
        case kErrorStreamCaptureImplicit: base = "operation would make the legacy stream depend on a capturing blocking stream"; break;
        case kErrorCapturedEvent: base = "operation not permitted on an event last recorded in a capturing stream"; break;
        case kErrorStreamCaptureWrongThread: base = "attempt to terminate a thread-local capture sequence from another thread"; break;
        case kErrorUnknown: base = "unknown error"; break;
        default: *text = nullptr; return kErrorInvalidValue;
    }
    // The standard text, then what the stand-in saw (kept alive for the process: callers keep the pointer).
    static std::mutex mutex;
    static std::map<std::pair<int, const char*>, std::string>* texts = new std::map<std::pair<int, const char*>, std::string>();
    const char* detail = last_detail(error);
    if (*detail == 0)
    {
        *text = base;
        return kSuccess;
    }
    std::lock_guard<std::mutex> lock(mutex);
    auto& entry = (*texts)[{error, detail}];
    if (entry.empty()) entry = std::string(base) + " (stand-in: " + detail + ")";
    *text = entry.c_str();
    return kSuccess;
}

// ---- devices

int cuDeviceGetCount(int* count)
{
    if (!initialized()) return kErrorNotInitialized;
    if (count == nullptr) return kErrorInvalidValue;
    *count = 1;
    return kSuccess;
}

int cuDeviceGet(int* device, int ordinal)
{
    if (!initialized()) return kErrorNotInitialized;
    if (device == nullptr) return kErrorInvalidValue;
    if (ordinal != 0) return fail(kErrorInvalidDevice, "cuDeviceGet: the stand-in has one device, 0");
    *device = 0;
    return kSuccess;
}

int cuDeviceGetName(char* name, int length, int device)
{
    if (!initialized()) return kErrorNotInitialized;
    if (name == nullptr || length <= 0) return kErrorInvalidValue;
    if (device != 0) return kErrorInvalidDevice;
    std::strncpy(name, kDeviceName, size_t(length) - 1);
    name[length - 1] = 0;
    return kSuccess;
}

int cuDeviceGetAttribute(int* value, int attribute, int device)
{
    if (!initialized()) return kErrorNotInitialized;
    if (value == nullptr) return kErrorInvalidValue;
    if (device != 0) return kErrorInvalidDevice;
    switch (attribute)
    {
        case 1: *value = 1024; break;   // max threads per block
        case 16: *value = 1; break;     // multiprocessors: one CPU thread per stream
        case 75: *value = 9; break;     // compute capability 9.0, the fatbin's newest
        case 76: *value = 0; break;
        default: return fail(kErrorInvalidValue, "cuDeviceGetAttribute: attribute " + std::to_string(attribute) + " is not modelled by the stand-in");
    }
    return kSuccess;
}

int cuDeviceTotalMem_v2(size_t* bytes, int device)
{
    if (!initialized()) return kErrorNotInitialized;
    if (bytes == nullptr) return kErrorInvalidValue;
    if (device != 0) return kErrorInvalidDevice;
    *bytes = arena_bytes();
    return kSuccess;
}

// ---- contexts

int cuDevicePrimaryCtxRetain(void** context, int device)
{
    if (!initialized()) return kErrorNotInitialized;
    if (context == nullptr) return kErrorInvalidValue;
    if (device != 0) return kErrorInvalidDevice;
    std::lock_guard<std::mutex> lock(g_context_mutex);
    ++g_primary_refs;
    *context = &g_primary_context;
    return kSuccess;
}

int cuDevicePrimaryCtxRelease_v2(int device)
{
    if (!initialized()) return kErrorNotInitialized;
    if (device != 0) return kErrorInvalidDevice;
    std::lock_guard<std::mutex> lock(g_context_mutex);
    if (g_primary_refs <= 0) return fail(kErrorInvalidContext, "cuDevicePrimaryCtxRelease: the primary context is not retained");
    --g_primary_refs;
    return kSuccess;
}

int cuCtxSetCurrent(void* context)
{
    if (!initialized()) return kErrorNotInitialized;
    if (context != nullptr && context != &g_primary_context) return fail(kErrorInvalidContext, "cuCtxSetCurrent: unknown context");
    t_current_context = context;
    return kSuccess;
}

// ---- memory

int cuMemAlloc_v2(uint64_t* pointer, size_t bytes)
{
    if (!initialized()) return kErrorNotInitialized;
    if (!context_current()) return kErrorInvalidContext;
    if (pointer == nullptr || bytes == 0) return fail(kErrorInvalidValue, "cuMemAlloc: null output or 0 bytes");
    if (int status = check_unsafe_during_capture("cuMemAlloc"); status != kSuccess) return status;
    return allocate_device(pointer, bytes);
}

int cuMemFree_v2(uint64_t pointer)
{
    if (!initialized()) return kErrorNotInitialized;
    if (pointer == 0) return kSuccess;
    if (int status = check_unsafe_during_capture("cuMemFree"); status != kSuccess) return status;
    // cuMemFree waits for the device: work still queued may use the memory.
    wait_all_idle();
    std::string guards;
    if (int status = free_device(pointer, &guards); status != kSuccess) return status;
    if (!guards.empty()) return fail(kErrorIllegalAddress, "found at cuMemFree: " + guards);
    return kSuccess;
}

int cuMemAllocHost_v2(void** pointer, size_t bytes)
{
    if (!initialized()) return kErrorNotInitialized;
    if (!context_current()) return kErrorInvalidContext;
    if (pointer == nullptr) return kErrorInvalidValue;
    if (int status = check_unsafe_during_capture("cuMemAllocHost"); status != kSuccess) return status;
    return allocate_pinned(pointer, bytes);
}

int cuMemFreeHost(void* pointer)
{
    if (!initialized()) return kErrorNotInitialized;
    wait_all_idle();
    return free_pinned(pointer);
}

// Synchronous copies are legacy-stream work: refused during a capture on this thread, and ordered after every
// blocking stream.
int cuMemcpyHtoD_v2(uint64_t destination, const void* source, size_t bytes)
{
    if (!initialized()) return kErrorNotInitialized;
    if (int status = check_unsafe_during_capture("cuMemcpyHtoD"); status != kSuccess) return status;
    if (bytes == 0) return kSuccess;
    if (int status = copy_check("cuMemcpyHtoD", destination, bytes); status != kSuccess) return status;
    if (int status = host_check("cuMemcpyHtoD", source); status != kSuccess) return status;
    return submit(nullptr, Task{"cuMemcpyHtoD", [=] {
        std::memcpy(reinterpret_cast<void*>(destination), source, bytes);
        return int(kSuccess);
    }});
}

int cuMemcpyDtoH_v2(void* destination, uint64_t source, size_t bytes)
{
    if (!initialized()) return kErrorNotInitialized;
    if (int status = check_unsafe_during_capture("cuMemcpyDtoH"); status != kSuccess) return status;
    if (bytes == 0) return kSuccess;
    if (int status = copy_check("cuMemcpyDtoH", source, bytes); status != kSuccess) return status;
    if (int status = host_check("cuMemcpyDtoH", destination); status != kSuccess) return status;
    return submit(nullptr, Task{"cuMemcpyDtoH", [=] {
        std::memcpy(destination, reinterpret_cast<const void*>(source), bytes);
        return int(kSuccess);
    }});
}

int cuMemcpyDtoD_v2(uint64_t destination, uint64_t source, size_t bytes)
{
    if (!initialized()) return kErrorNotInitialized;
    if (int status = check_unsafe_during_capture("cuMemcpyDtoD"); status != kSuccess) return status;
    if (bytes == 0) return kSuccess;
    if (int status = copy_check("cuMemcpyDtoD", destination, bytes); status != kSuccess) return status;
    if (int status = copy_check("cuMemcpyDtoD", source, bytes); status != kSuccess) return status;
    return submit(nullptr, Task{"cuMemcpyDtoD", [=] {
        std::memmove(reinterpret_cast<void*>(destination), reinterpret_cast<const void*>(source), bytes);
        return int(kSuccess);
    }});
}

int cuMemcpyHtoDAsync_v2(uint64_t destination, const void* source, size_t bytes, void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (bytes == 0) return kSuccess;
    if ((status = copy_check("cuMemcpyHtoDAsync", destination, bytes)) != kSuccess) return status;
    if ((status = host_check("cuMemcpyHtoDAsync", source)) != kSuccess) return status;
    if (pinned_host(reinterpret_cast<uintptr_t>(source), bytes))
    {
        // Pinned memory is read when the copy runs: writing it before then races the copy, as on a GPU.
        return submit(s, Task{"cuMemcpyHtoDAsync", [=] {
            std::memcpy(reinterpret_cast<void*>(destination), source, bytes);
            return int(kSuccess);
        }});
    }
    if (capturing(s))
    {
        if ((status = check_unsafe_during_capture("cuMemcpyHtoDAsync from pageable host memory")) != kSuccess) return status;
        return fail(kErrorStreamCaptureUnsupported, "cuMemcpyHtoDAsync from pageable host memory inside a capture");
    }
    // Pageable memory is staged before the call returns, so the caller may reuse it at once.
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(source),
                                                               static_cast<const unsigned char*>(source) + bytes);
    return submit(s, Task{"cuMemcpyHtoDAsync", [=] {
        std::memcpy(reinterpret_cast<void*>(destination), staged->data(), bytes);
        return int(kSuccess);
    }});
}

int cuMemcpyDtoHAsync_v2(void* destination, uint64_t source, size_t bytes, void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (bytes == 0) return kSuccess;
    if ((status = copy_check("cuMemcpyDtoHAsync", source, bytes)) != kSuccess) return status;
    if ((status = host_check("cuMemcpyDtoHAsync", destination)) != kSuccess) return status;
    const bool pinned = pinned_host(reinterpret_cast<uintptr_t>(destination), bytes);
    if (!pinned && capturing(s)) return fail(kErrorStreamCaptureUnsupported, "cuMemcpyDtoHAsync to pageable host memory inside a capture");
    status = submit(s, Task{"cuMemcpyDtoHAsync", [=] {
        std::memcpy(destination, reinterpret_cast<const void*>(source), bytes);
        return int(kSuccess);
    }});
    // Into pageable memory the copy is synchronous for the host, as the driver makes it.
    if (status == kSuccess && !pinned && s != nullptr) status = cuStreamSynchronize(stream);
    return status;
}

int cuMemcpyDtoDAsync_v2(uint64_t destination, uint64_t source, size_t bytes, void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (bytes == 0) return kSuccess;
    if ((status = copy_check("cuMemcpyDtoDAsync", destination, bytes)) != kSuccess) return status;
    if ((status = copy_check("cuMemcpyDtoDAsync", source, bytes)) != kSuccess) return status;
    return submit(s, Task{"cuMemcpyDtoDAsync", [=] {
        std::memmove(reinterpret_cast<void*>(destination), reinterpret_cast<const void*>(source), bytes);
        return int(kSuccess);
    }});
}

int cuMemsetD32Async(uint64_t destination, unsigned value, size_t count, void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (count == 0) return kSuccess;
    if ((destination & 3) != 0) return fail(kErrorInvalidValue, "cuMemsetD32Async: destination not 4-byte aligned");
    if (count > SIZE_MAX / 4) return fail(kErrorInvalidValue, "cuMemsetD32Async: count too large");
    if ((status = copy_check("cuMemsetD32Async", destination, count * 4)) != kSuccess) return status;
    return submit(s, Task{"cuMemsetD32Async", [=] {
        auto* p = reinterpret_cast<unsigned*>(destination);
        for (size_t i = 0; i < count; ++i) p[i] = value;
        return int(kSuccess);
    }});
}

// ---- modules: the image is checked now and read again when a function is first fetched (lazy loading, the
// default since CUDA 12.2), so the caller must keep it alive until then.

int cuModuleLoadData(void** module, const void* image)
{
    if (!initialized()) return kErrorNotInitialized;
    if (!context_current()) return kErrorInvalidContext;
    if (module == nullptr || image == nullptr) return fail(kErrorInvalidValue, "cuModuleLoadData: null module or image");
    if (!looks_like_image(image)) return fail(kErrorInvalidImage, "cuModuleLoadData: not a fatbin, cubin, PTX or stand-in image");
    auto m = std::make_unique<Module>();
    m->image = image;
    std::lock_guard<std::mutex> lock(g_module_mutex);
    *module = m.get();
    g_modules[m.get()] = std::move(m);
    return kSuccess;
}

int cuModuleUnload(void* module)
{
    if (!initialized()) return kErrorNotInitialized;
    std::lock_guard<std::mutex> lock(g_module_mutex);
    return g_modules.erase(module) == 1 ? kSuccess : fail(kErrorInvalidHandle, "cuModuleUnload: unknown module");
}

int cuModuleGetFunction(void** function, void* module, const char* name)
{
    if (!initialized()) return kErrorNotInitialized;
    if (function == nullptr || name == nullptr) return kErrorInvalidValue;
    std::lock_guard<std::mutex> lock(g_module_mutex);
    auto it = g_modules.find(module);
    if (it == g_modules.end()) return fail(kErrorInvalidHandle, "cuModuleGetFunction: unknown module");
    if (!looks_like_image(it->second->image))
        return fail(kErrorInvalidImage, std::string("cuModuleGetFunction(") + name +
            "): the module's image is no longer there (freed after cuModuleLoadData? lazy loading reads it now)");
    for (const KernelInfo& kernel : kernels())
        if (std::strcmp(kernel.name, name) == 0)
        {
            *function = const_cast<KernelInfo*>(&kernel);
            return kSuccess;
        }
    return kErrorNotFound;
}

int cuLaunchKernel(void* function, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX, unsigned blockY,
                   unsigned blockZ, unsigned sharedBytes, void* stream, void** params, void** extra)
{
    if (!initialized()) return kErrorNotInitialized;
    if (!known_kernel(function)) return fail(kErrorInvalidHandle, "cuLaunchKernel: unknown function");
    const KernelInfo& kernel = *static_cast<const KernelInfo*>(function);
    const std::string who = std::string("cuLaunchKernel(") + kernel.name + ")";
    if (gridX == 0 || gridY == 0 || gridZ == 0 || blockX == 0 || blockY == 0 || blockZ == 0)
        return fail(kErrorInvalidValue, who + ": a grid or block dimension is 0");
    if (gridX > 0x7FFFFFFFu || gridY > 65535 || gridZ > 65535) return fail(kErrorInvalidValue, who + ": grid exceeds 2^31-1 x 65535 x 65535");
    const unsigned long long threads = 1ull * blockX * blockY * blockZ;
    if (blockX > 1024 || blockY > 1024 || blockZ > 64 || threads > 1024) return fail(kErrorInvalidValue, who + ": block exceeds 1024 threads");
    if (kernel.max_threads != 0 && threads > kernel.max_threads)
        return fail(kErrorInvalidValue, who + ": " + std::to_string(threads) + " threads a block exceed its __launch_bounds__(" +
                                            std::to_string(kernel.max_threads) + ")");
    if (sharedBytes > 48 * 1024) return fail(kErrorInvalidValue, who + ": more than 48 KiB of dynamic shared memory");
    if (extra != nullptr) return fail(kErrorInvalidValue, who + ": the stand-in takes arguments through kernelParams only");
    if (params == nullptr && kernel.arg_count > 0) return fail(kErrorInvalidValue, who + ": no kernelParams for a kernel with arguments");
    for (int i = 0; i < kernel.arg_count; ++i)
        if (params[i] == nullptr) return fail(kErrorInvalidValue, who + ": kernelParams[" + std::to_string(i) + "] is null");
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    std::shared_ptr<PreparedLaunch> launch = kernel.prepare(params);
    for (const PointerArg& p : launch->pointers)
    {
        if (p.value == 0) continue;
        if (std::string problem = device_range_problem(p.value, 0); !problem.empty())
            return fail(kErrorInvalidValue, who + ": argument " + std::to_string(p.index) + ": " + problem);
        if (p.value % p.align != 0)
            return fail(kErrorInvalidValue, who + ": argument " + std::to_string(p.index) + ": " + hex(p.value) + " is not aligned to " +
                                                std::to_string(p.align) + " bytes");
    }
    const Dim grid{gridX, gridY, gridZ}, block{blockX, blockY, blockZ};
    const KernelInfo* k = &kernel;
    {
        std::lock_guard<std::mutex> lock(g_launch_mutex);
        g_last_launch[k] = LaunchShape{gridX, blockX};
    }
    return submit(s, Task{kernel.name, [k, launch, grid, block] { return run_kernel_task(*k, launch, grid, block); }});
}

// A test hook (the launch shape is what a GPU's profiler would show): the grid.x and block.x of the last launch of
// `kernel` that cuLaunchKernel accepted, on any stream, captured or not. 0 when found, 1 when the kernel exists but
// was never launched, kErrorNotFound when no kernel has that name.
int fgStandInLastLaunch(const char* kernel, unsigned* grid_x, unsigned* block_x)
{
    if (kernel == nullptr || grid_x == nullptr || block_x == nullptr) return kErrorInvalidValue;
    for (const KernelInfo& info : kernels())
    {
        if (std::strcmp(info.name, kernel) != 0) continue;
        std::lock_guard<std::mutex> lock(g_launch_mutex);
        auto found = g_last_launch.find(&info);
        if (found == g_last_launch.end()) return 1;
        *grid_x = found->second.grid_x;
        *block_x = found->second.block_x;
        return kSuccess;
    }
    return kErrorNotFound;
}

}  // extern "C"
