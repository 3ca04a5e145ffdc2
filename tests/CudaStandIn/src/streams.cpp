// streams.cpp — streams, events, stream capture and graphs.
//
// Every stream has a worker thread that runs its queue in order, so work is really asynchronous: a host read without
// the synchronization CUDA requires sees what was there before. The legacy default stream (handle 0) runs its work
// on the calling thread once every blocking stream has drained, which is the ordering the legacy stream promises.
// Events stamp the host's steady clock when the worker reaches them.
//
// Capture (cuStreamBeginCapture) diverts a stream's work into a list of tasks instead of running it; cuGraphLaunch
// replays the list in order on a stream. What real capture refuses is refused with the same codes, and invalidates
// the capture so that cuStreamEndCapture fails with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: synchronizing the
// capturing stream, allocation and synchronous copies on the capturing thread (thread-local mode) or any thread
// (global mode), copies from pageable host memory, and any use of the legacy stream while a blocking stream
// captures (CUDA_ERROR_STREAM_CAPTURE_IMPLICIT) — the reason a capturing stream should be CU_STREAM_NON_BLOCKING.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "standin.h"

namespace fg_standin
{
constexpr unsigned kStreamNonBlocking = 1;

struct Graph
{
    std::vector<Task> tasks;
};

struct Stream
{
    unsigned flags = 0;
    std::mutex mutex;
    std::condition_variable wake, idle;
    std::deque<Task> queue;
    bool busy = false, stop = false;
    int pending_error = kSuccess;
    std::thread worker;

    // capture state (guarded by mutex)
    bool capturing = false, invalidated = false;
    int capture_mode = 0;
    std::thread::id capture_thread;
    std::unique_ptr<Graph> capture;

    void run()
    {
        std::unique_lock<std::mutex> lock(mutex);
        for (;;)
        {
            wake.wait(lock, [&] { return stop || !queue.empty(); });
            if (queue.empty()) return;  // stop requested and drained
            Task task = std::move(queue.front());
            queue.pop_front();
            busy = true;
            lock.unlock();
            const int status = task.work();
            lock.lock();
            if (status != kSuccess && pending_error == kSuccess) pending_error = status;
            busy = false;
            if (queue.empty()) idle.notify_all();
        }
    }

    // Waits until everything queued has run; returns (and clears) the first error it raised.
    int drain()
    {
        std::unique_lock<std::mutex> lock(mutex);
        idle.wait(lock, [&] { return queue.empty() && !busy; });
        const int status = pending_error;
        pending_error = kSuccess;
        return status;
    }
};

struct Event
{
    unsigned flags = 0;
    std::mutex mutex;
    std::condition_variable done;
    uint64_t recorded = 0, completed = 0;
    bool captured = false;
    std::chrono::steady_clock::time_point time{};
};

struct GraphExec
{
    std::vector<Task> tasks;
};

namespace
{
struct Registry
{
    std::mutex mutex;
    std::map<void*, std::shared_ptr<Stream>> streams;
    std::map<void*, std::shared_ptr<Event>> events;
    std::map<void*, std::unique_ptr<Graph>> graphs;
    std::map<void*, std::shared_ptr<GraphExec>> execs;
};

Registry& registry()
{
    static Registry* r = new Registry();  // never destroyed: worker threads may outlive static destruction
    return *r;
}

std::vector<std::shared_ptr<Stream>> all_streams()
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<std::shared_ptr<Stream>> list;
    for (auto& entry : r.streams) list.push_back(entry.second);
    return list;
}

void invalidate(Stream& s)
{
    // caller holds s.mutex
    s.invalidated = true;
    s.capture.reset();
}

// The legacy stream's implicit synchronization with every blocking stream: refused (and the capture invalidated)
// when one of them is capturing, else waits for all of them.
int legacy_barrier(const char* call)
{
    auto streams = all_streams();
    for (auto& s : streams)
    {
        std::lock_guard<std::mutex> lock(s->mutex);
        if ((s->flags & kStreamNonBlocking) == 0 && s->capturing)
        {
            invalidate(*s);
            return fail(kErrorStreamCaptureImplicit, std::string(call) +
                " uses the legacy default stream, which synchronizes with every blocking stream, while a blocking stream is being"
                " captured: the capture is invalidated (create the stream with CU_STREAM_NON_BLOCKING)");
        }
    }
    for (auto& s : streams)
        if ((s->flags & kStreamNonBlocking) == 0)
        {
            std::unique_lock<std::mutex> lock(s->mutex);
            s->idle.wait(lock, [&] { return s->queue.empty() && !s->busy; });
        }
    return kSuccess;
}

uint64_t next_launch_seed()
{
    static std::atomic<uint64_t> counter{0};
    static const uint64_t base = [] {
        const char* text = std::getenv("FINGEN_STANDIN_SEED");
        return text != nullptr ? std::strtoull(text, nullptr, 0) : 0x5EEDull;
    }();
    return base * 0x9E3779B97F4A7C15ull + counter.fetch_add(1);
}
}  // namespace

Stream* resolve_stream(void* handle, int* status)
{
    *status = kSuccess;
    const auto value = reinterpret_cast<uintptr_t>(handle);
    if (value == 0 || value == 1 || value == 2) return nullptr;  // 0, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.streams.find(handle);
    if (it == r.streams.end())
    {
        *status = fail(kErrorInvalidHandle, "unknown stream " + hex(value) + " (destroyed?)");
        return nullptr;
    }
    return it->second.get();
}

bool capturing(Stream* stream)
{
    if (stream == nullptr) return false;
    std::lock_guard<std::mutex> lock(stream->mutex);
    return stream->capturing;
}

int submit(Stream* stream, Task task)
{
    if (stream == nullptr)
    {
        if (int status = legacy_barrier(task.what.c_str()); status != kSuccess) return status;
        return task.work();
    }
    std::lock_guard<std::mutex> lock(stream->mutex);
    if (stream->capturing)
    {
        if (stream->invalidated)
            return fail(kErrorStreamCaptureInvalidated, task.what + ": the stream's capture was invalidated by an earlier call");
        stream->capture->tasks.push_back(std::move(task));
        return kSuccess;
    }
    stream->queue.push_back(std::move(task));
    stream->wake.notify_one();
    return kSuccess;
}

int check_unsafe_during_capture(const char* call)
{
    const auto me = std::this_thread::get_id();
    for (auto& s : all_streams())
    {
        std::lock_guard<std::mutex> lock(s->mutex);
        if (!s->capturing) continue;
        const bool applies = s->capture_mode == 0 /* global */ || (s->capture_mode == 1 /* thread-local */ && s->capture_thread == me);
        if (!applies) continue;
        invalidate(*s);
        return fail(kErrorStreamCaptureUnsupported, std::string(call) + " is not permitted while a stream is being captured (" +
            (s->capture_mode == 0 ? "global" : "thread-local") + " capture mode): the capture is invalidated");
    }
    return kSuccess;
}

void wait_all_idle()
{
    for (auto& s : all_streams())
    {
        std::unique_lock<std::mutex> lock(s->mutex);
        s->idle.wait(lock, [&] { return s->queue.empty() && !s->busy; });
    }
}

int synchronize_all()
{
    int first = kSuccess;
    for (auto& s : all_streams())
    {
        const int status = s->drain();
        if (first == kSuccess) first = status;
    }
    if (std::string guards = check_guards(0); !guards.empty() && first == kSuccess) first = fail(kErrorIllegalAddress, guards);
    return first;
}

int run_kernel_task(const KernelInfo& kernel, const std::shared_ptr<PreparedLaunch>& launch, Dim grid, Dim block);

}  // namespace fg_standin

using namespace fg_standin;

extern "C" {

int cuStreamCreate(void** stream, unsigned flags)
{
    if (!initialized()) return kErrorNotInitialized;
    if (!context_current()) return kErrorInvalidContext;
    if (stream == nullptr || (flags & ~kStreamNonBlocking) != 0) return fail(kErrorInvalidValue, "cuStreamCreate: bad flags or null output");
    auto s = std::make_shared<Stream>();
    s->flags = flags;
    Stream* raw = s.get();
    s->worker = std::thread([raw] { raw->run(); });
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.streams[raw] = s;
    *stream = raw;
    return kSuccess;
}

int cuStreamDestroy_v2(void* stream)
{
    std::shared_ptr<Stream> s;
    {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        auto it = r.streams.find(stream);
        if (it == r.streams.end()) return fail(kErrorInvalidHandle, "cuStreamDestroy: unknown stream");
        s = it->second;
        r.streams.erase(it);
    }
    // Work already queued still completes (as cuStreamDestroy promises), then the worker ends.
    {
        std::lock_guard<std::mutex> lock(s->mutex);
        s->stop = true;
        s->wake.notify_one();
    }
    if (s->worker.joinable()) s->worker.join();
    return kSuccess;
}

int cuStreamSynchronize(void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (s == nullptr) return synchronize_all();
    {
        std::lock_guard<std::mutex> lock(s->mutex);
        if (s->capturing)
        {
            invalidate(*s);
            return fail(kErrorStreamCaptureUnsupported, "cuStreamSynchronize on a stream that is being captured: the capture is invalidated");
        }
    }
    status = s->drain();
    if (std::string guards = check_guards(0); !guards.empty() && status == kSuccess) status = fail(kErrorIllegalAddress, guards);
    return status;
}

int cuCtxSynchronize()
{
    if (!initialized()) return kErrorNotInitialized;
    if (int status = check_unsafe_during_capture("cuCtxSynchronize"); status != kSuccess) return status;
    return synchronize_all();
}

// ---- events

int cuEventCreate(void** event, unsigned flags)
{
    if (!initialized()) return kErrorNotInitialized;
    if (!context_current()) return kErrorInvalidContext;
    if (event == nullptr || (flags & ~0xFu) != 0) return fail(kErrorInvalidValue, "cuEventCreate: bad flags or null output");
    auto e = std::make_shared<Event>();
    e->flags = flags;
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.events[e.get()] = e;
    *event = e.get();
    return kSuccess;
}

static std::shared_ptr<Event> find_event(void* event)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.events.find(event);
    return it == r.events.end() ? nullptr : it->second;
}

int cuEventDestroy_v2(void* event)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    // A pending record keeps its own reference, so destroying an event with work queued is safe, as in CUDA.
    return r.events.erase(event) == 1 ? kSuccess : fail(kErrorInvalidHandle, "cuEventDestroy: unknown event");
}

int cuEventRecord(void* event, void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    auto e = find_event(event);
    if (e == nullptr) return fail(kErrorInvalidHandle, "cuEventRecord: unknown event");
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (capturing(s))
    {
        // Inside a capture an event record orders work within the graph; it is no node of its own here, and
        // waiting on the event from the host is refused until it is recorded again outside the capture.
        std::lock_guard<std::mutex> lock(e->mutex);
        e->captured = true;
        return kSuccess;
    }
    uint64_t generation;
    {
        std::lock_guard<std::mutex> lock(e->mutex);
        e->captured = false;
        generation = ++e->recorded;
    }
    return submit(s, Task{"cuEventRecord", [e, generation] {
        std::lock_guard<std::mutex> lock(e->mutex);
        if (e->completed < generation)
        {
            e->completed = generation;
            e->time = std::chrono::steady_clock::now();
        }
        e->done.notify_all();
        return kSuccess;
    }});
}

int cuEventSynchronize(void* event)
{
    if (!initialized()) return kErrorNotInitialized;
    auto e = find_event(event);
    if (e == nullptr) return fail(kErrorInvalidHandle, "cuEventSynchronize: unknown event");
    std::unique_lock<std::mutex> lock(e->mutex);
    if (e->captured) return fail(kErrorCapturedEvent, "cuEventSynchronize on an event last recorded inside a stream capture");
    e->done.wait(lock, [&] { return e->completed >= e->recorded; });
    return kSuccess;
}

int cuEventElapsedTime(float* milliseconds, void* start, void* end)
{
    if (!initialized()) return kErrorNotInitialized;
    if (milliseconds == nullptr) return fail(kErrorInvalidValue, "cuEventElapsedTime: null output");
    auto a = find_event(start), b = find_event(end);
    if (a == nullptr || b == nullptr) return fail(kErrorInvalidHandle, "cuEventElapsedTime: unknown event");
    std::scoped_lock lock(a->mutex, b->mutex);
    if ((a->flags & 2) != 0 || (b->flags & 2) != 0)
        return fail(kErrorInvalidHandle, "cuEventElapsedTime: an event was created with CU_EVENT_DISABLE_TIMING");
    if (a->recorded == 0 || b->recorded == 0) return fail(kErrorInvalidHandle, "cuEventElapsedTime: an event was never recorded");
    if (a->completed < a->recorded || b->completed < b->recorded) return kErrorNotReady;
    *milliseconds = std::chrono::duration<float, std::milli>(b->time - a->time).count();
    return kSuccess;
}

// ---- capture and graphs

int cuStreamBeginCapture_v2(void* stream, int mode)
{
    if (!initialized()) return kErrorNotInitialized;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (s == nullptr) return fail(kErrorStreamCaptureUnsupported, "cuStreamBeginCapture: the legacy stream cannot be captured");
    if (mode < 0 || mode > 2) return fail(kErrorInvalidValue, "cuStreamBeginCapture: unknown capture mode " + std::to_string(mode));
    std::lock_guard<std::mutex> lock(s->mutex);
    if (s->capturing) return fail(kErrorIllegalState, "cuStreamBeginCapture: the stream is already being captured");
    s->capturing = true;
    s->invalidated = false;
    s->capture_mode = mode;
    s->capture_thread = std::this_thread::get_id();
    s->capture = std::make_unique<Graph>();
    return kSuccess;
}

int cuStreamEndCapture(void* stream, void** graph)
{
    if (!initialized()) return kErrorNotInitialized;
    if (graph == nullptr) return fail(kErrorInvalidValue, "cuStreamEndCapture: null output");
    *graph = nullptr;
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    if (s == nullptr) return fail(kErrorIllegalState, "cuStreamEndCapture: the legacy stream is never captured");
    std::unique_ptr<Graph> captured;
    {
        std::lock_guard<std::mutex> lock(s->mutex);
        if (!s->capturing) return fail(kErrorIllegalState, "cuStreamEndCapture: the stream is not being captured");
        if (s->capture_mode != 2 && s->capture_thread != std::this_thread::get_id())
            return fail(kErrorStreamCaptureWrongThread, "cuStreamEndCapture from another thread than cuStreamBeginCapture's");
        s->capturing = false;
        if (s->invalidated)
        {
            s->invalidated = false;
            s->capture.reset();
            return fail(kErrorStreamCaptureInvalidated, "cuStreamEndCapture: the capture was invalidated by an earlier call");
        }
        captured = std::move(s->capture);
    }
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    *graph = captured.get();
    r.graphs[captured.get()] = std::move(captured);
    return kSuccess;
}

int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags)
{
    if (!initialized()) return kErrorNotInitialized;
    if (exec == nullptr || (flags & ~0xFull) != 0) return fail(kErrorInvalidValue, "cuGraphInstantiateWithFlags: null output or unknown flags");
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.graphs.find(graph);
    if (it == r.graphs.end()) return fail(kErrorInvalidValue, "cuGraphInstantiateWithFlags: unknown graph");
    auto e = std::make_shared<GraphExec>();
    e->tasks = it->second->tasks;  // the executable is a copy: the graph may be destroyed after
    *exec = e.get();
    r.execs[e.get()] = e;
    return kSuccess;
}

int cuGraphLaunch(void* exec, void* stream)
{
    if (!initialized()) return kErrorNotInitialized;
    std::shared_ptr<GraphExec> e;
    {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        auto it = r.execs.find(exec);
        if (it == r.execs.end()) return fail(kErrorInvalidHandle, "cuGraphLaunch: unknown executable graph");
        e = it->second;
    }
    int status;
    Stream* s = resolve_stream(stream, &status);
    if (status != kSuccess) return status;
    return submit(s, Task{"cuGraphLaunch", [e] {
        for (Task& task : e->tasks)
            if (int status = task.work(); status != kSuccess) return status;
        return int(kSuccess);
    }});
}

int cuGraphExecDestroy(void* exec)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.execs.erase(exec) == 1 ? kSuccess : fail(kErrorInvalidHandle, "cuGraphExecDestroy: unknown executable graph");
}

int cuGraphDestroy(void* graph)
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.graphs.erase(graph) == 1 ? kSuccess : fail(kErrorInvalidValue, "cuGraphDestroy: unknown graph");
}

}  // extern "C"

namespace fg_standin
{
uint64_t launch_seed() { return next_launch_seed(); }
}
