// nvtx.cpp — NVTX's C API as it behaves with no tool attached: ranges are not tracked (push and pop return
// NVTX_NO_PUSH_POP_TRACKING), marks go nowhere. Served as libnvToolsExt.so.1 so the profiler's NVTX path runs too.
extern "C" {
int nvtxRangePushA(const char*) { return -2; }
int nvtxRangePop() { return -2; }
void nvtxMarkA(const char*) {}
}
