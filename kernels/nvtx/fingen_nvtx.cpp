// fingen_nvtx.cpp — libfingen_nvtx.so: NVTX's C API (nvtxRangePushA, nvtxRangePop, nvtxMarkA, ...) as exported
// functions, built from the NVTX 3 headers that every CUDA toolkit since 10.0 ships.
// defines: the nvtx* entry points of nvToolsExt.h (no kernels)
//
// Why: the engine binds NVTX by [LibraryImport] (src/FinGen.Native.Cuda/Interop/Nvtx.cs), which needs a shared
// library. CUDA <= 12 and the pip nvidia-nvtx-cu12 wheel ship libnvToolsExt.so.1; CUDA 13 ships NVTX 3 as headers
// only. NVTX_EXPORT_API turns the headers' inline implementation into external definitions, and NVTX_DECLSPEC
// overrides the hidden visibility the implementation otherwise gets, so this file alone is that library. It
// behaves as libnvToolsExt does: it loads the tool named by NVTX_INJECTION64_PATH (Nsight sets it) on the first
// call, and without one every call returns at once (push and pop return NVTX_NO_PUSH_POP_TRACKING, -2).
// The resolver tries libnvToolsExt.so.1 first, then this file; where neither loads, profiles have no ranges.
#define NVTX_EXPORT_API
#define NVTX_DECLSPEC __attribute__((visibility("default")))
#include <nvtx3/nvToolsExt.h>
