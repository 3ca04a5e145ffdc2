// memory.cpp — device memory in the stand-in's own address range, and the error details.
//
// One large range is reserved (PROT_NONE, no swap reserved) when the library loads; each cuMemAlloc takes fresh
// pages from it and never reuses an address, so a pointer into freed memory never silently lands in a new
// allocation. Each allocation's data starts 256 bytes into its first page (cuMemAlloc's alignment) and is followed
// at once, byte for byte, by the tail guard zone running to the end of its last page; the 256 bytes before the data
// are the head guard. Guards are filled with the bytes of the signalling NaN 0x7FBADBAD (so an out-of-bounds read
// shows up as NaN) and checked after every kernel for the allocations it was given, at every synchronization and at
// free. New memory is filled with NaN bytes too: cuMemAlloc promises no zeros.
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "standin.h"

namespace fg_standin
{
namespace
{
constexpr size_t kArenaBytes = size_t(256) << 30;  // address space only
constexpr size_t kPage = 4096;
constexpr size_t kHeadGuard = 256;
constexpr uint8_t kGuard[4] = {0xAD, 0xDB, 0xBA, 0x7F};  // 0x7FBADBAD little-endian

struct Arena
{
    std::mutex mutex;
    uintptr_t base = 0, next = 0, end = 0;
    // key: the first page's address
    std::map<uintptr_t, Allocation> live;
    std::map<uintptr_t, size_t> pinned;  // host address -> bytes
    uint64_t serial = 0;

    Arena()
    {
        void* p = mmap(nullptr, kArenaBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED)
        {
            base = next = reinterpret_cast<uintptr_t>(p);
            end = base + kArenaBytes;
        }
    }
};

Arena& arena()
{
    static Arena* a = new Arena();  // never destroyed: finalizers may free memory during process exit
    return *a;
}

size_t pages_for(size_t bytes) { return (kHeadGuard + bytes + kHeadGuard + kPage - 1) / kPage; }

uintptr_t first_page(const Allocation& a) { return a.data - kHeadGuard; }
uintptr_t end_of(const Allocation& a) { return first_page(a) + pages_for(a.bytes) * kPage; }

void fill_guard(uintptr_t from, uintptr_t to)
{
    for (uintptr_t p = from; p < to; ++p) *reinterpret_cast<uint8_t*>(p) = kGuard[p & 3];
}

// First damaged byte in [from, to), or 0.
uintptr_t damaged(uintptr_t from, uintptr_t to)
{
    for (uintptr_t p = from; p < to; ++p)
        if (*reinterpret_cast<uint8_t*>(p) != kGuard[p & 3]) return p;
    return 0;
}

// The live allocation whose pages hold p (guards included); caller holds the lock.
Allocation* holding(Arena& a, uintptr_t p)
{
    auto it = a.live.upper_bound(p);
    if (it == a.live.begin()) return nullptr;
    --it;
    return p < end_of(it->second) ? &it->second : nullptr;
}

std::string describe(const Allocation& a)
{
    return "allocation #" + std::to_string(a.serial) + " (" + hex(a.data) + ", " + std::to_string(a.bytes) + " bytes)";
}

std::string guard_problem(Allocation& a)
{
    uintptr_t head = damaged(first_page(a), a.data);
    uintptr_t tail = damaged(a.data + a.bytes, end_of(a));
    if (head == 0 && tail == 0) return "";
    std::string where = head != 0 ? std::to_string(a.data - head) + " bytes before its start"
                                  : std::to_string(tail - (a.data + a.bytes)) + " bytes past its end";
    fill_guard(first_page(a), a.data);
    fill_guard(a.data + a.bytes, end_of(a));
    return "out-of-bounds write into the guard zone of " + describe(a) + ", " + where + ", last written by " +
           (a.last_user.empty() ? std::string("(nothing yet)") : a.last_user);
}

struct Details
{
    std::mutex mutex;
    std::map<int, const char*> last;
    std::deque<std::string> kept;  // every detail stays alive: cuGetErrorString's pointer must not dangle
};

Details& details()
{
    static Details* d = new Details();
    return *d;
}
}  // namespace

std::string hex(uintptr_t value)
{
    char text[32];
    std::snprintf(text, sizeof text, "0x%" PRIxPTR, value);
    return text;
}

int fail(int code, const std::string& detail)
{
    Details& d = details();
    {
        std::lock_guard<std::mutex> lock(d.mutex);
        d.kept.push_back(detail);
        d.last[code] = d.kept.back().c_str();
    }
    if (std::getenv("FINGEN_STANDIN_QUIET") == nullptr) std::fprintf(stderr, "cuda stand-in: error %d: %s\n", code, detail.c_str());
    return code;
}

const char* last_detail(int code)
{
    Details& d = details();
    std::lock_guard<std::mutex> lock(d.mutex);
    auto it = d.last.find(code);
    return it == d.last.end() ? "" : it->second;
}

bool in_device_arena(uintptr_t p)
{
    Arena& a = arena();
    return p >= a.base && p < a.end;
}

bool device_range(uintptr_t p, size_t bytes, Allocation* found)
{
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    Allocation* hit = holding(a, p);
    if (hit == nullptr || p < hit->data) return false;
    const uintptr_t end = hit->data + hit->bytes;
    if (bytes == 0 ? p > end : (p >= end || bytes > end - p)) return false;
    if (found != nullptr) *found = *hit;
    return true;
}

std::string device_range_problem(uintptr_t p, size_t bytes)
{
    if (device_range(p, bytes)) return "";
    if (p == 0) return "a null pointer";
    if (!in_device_arena(p)) return hex(p) + " is not device memory (a host pointer?)";
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    Allocation* hit = holding(a, p);
    if (hit == nullptr) return hex(p) + " is not inside a live device allocation (freed?)";
    return "[" + hex(p) + ", +" + std::to_string(bytes) + " bytes) runs outside " + describe(*hit);
}

void note_user(uintptr_t p, const char* user)
{
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    if (Allocation* hit = holding(a, p)) hit->last_user = user;
}

std::string check_guards(uintptr_t p)
{
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    if (p != 0)
    {
        Allocation* hit = holding(a, p);
        return hit == nullptr ? "" : guard_problem(*hit);
    }
    std::string problems;
    for (auto& entry : a.live)
    {
        std::string problem = guard_problem(entry.second);
        if (!problem.empty()) problems += (problems.empty() ? "" : "; ") + problem;
    }
    return problems;
}

bool pinned_host(uintptr_t p, size_t bytes)
{
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.pinned.upper_bound(p);
    if (it == a.pinned.begin()) return false;
    --it;
    return p >= it->first && p - it->first <= it->second && bytes <= it->second - (p - it->first);
}

// ---- the entry points live in driver.cpp; these are their memory halves

int allocate_device(uint64_t* out, size_t bytes)
{
    Arena& a = arena();
    if (a.base == 0) return fail(kErrorOutOfMemory, "the stand-in could not reserve its device address range");
    const size_t pages = pages_for(bytes);
    std::lock_guard<std::mutex> lock(a.mutex);
    if (pages > (a.end - a.next) / kPage) return fail(kErrorOutOfMemory, "device address range exhausted");
    const uintptr_t start = a.next;
    if (mprotect(reinterpret_cast<void*>(start), pages * kPage, PROT_READ | PROT_WRITE) != 0)
        return fail(kErrorOutOfMemory, "mprotect failed for a " + std::to_string(bytes) + "-byte allocation");
    a.next += pages * kPage;
    Allocation alloc;
    alloc.data = start + kHeadGuard;
    alloc.bytes = bytes;
    alloc.serial = ++a.serial;
    fill_guard(start, alloc.data);
    std::memset(reinterpret_cast<void*>(alloc.data), 0xFF, bytes);  // NaN: device memory starts undefined
    fill_guard(alloc.data + bytes, end_of(alloc));
    a.live.emplace(start, alloc);
    *out = alloc.data;
    return kSuccess;
}

int free_device(uint64_t pointer, std::string* guard_report)
{
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.live.find(uintptr_t(pointer) - kHeadGuard);
    if (it == a.live.end() || it->second.data != pointer)
        return fail(kErrorInvalidValue, "cuMemFree: " + hex(uintptr_t(pointer)) + " is not the start of a live device allocation");
    *guard_report = guard_problem(it->second);
    const size_t bytes = pages_for(it->second.bytes) * kPage;
    void* start = reinterpret_cast<void*>(first_page(it->second));
    madvise(start, bytes, MADV_DONTNEED);
    mprotect(start, bytes, PROT_NONE);
    a.live.erase(it);
    return kSuccess;
}

int allocate_pinned(void** out, size_t bytes)
{
    void* p = nullptr;
    if (posix_memalign(&p, kPage, bytes == 0 ? 1 : bytes) != 0) return fail(kErrorOutOfMemory, "cuMemAllocHost: out of host memory");
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    a.pinned[reinterpret_cast<uintptr_t>(p)] = bytes;
    *out = p;
    return kSuccess;
}

int free_pinned(void* p)
{
    Arena& a = arena();
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.pinned.find(reinterpret_cast<uintptr_t>(p));
    if (it == a.pinned.end()) return fail(kErrorInvalidValue, "cuMemFreeHost: " + hex(reinterpret_cast<uintptr_t>(p)) + " is not from cuMemAllocHost");
    a.pinned.erase(it);
    std::free(p);
    return kSuccess;
}

size_t arena_bytes() { return kArenaBytes; }

}  // namespace fg_standin
