// cudnn.cpp — the cuDNN subset the backend calls (src/FinGen.Native.Cuda/Interop/Cudnn.cs), written from cuDNN's
// documented semantics as plain loops: 4-D NCHW float tensors and KCRS filters, 2-D convolutions (cross-correlation,
// or true convolution with the filter flipped), forward, backward data, backward filter, and cudnnAddTensor.
//
//   forward          y[n,k,p,q]  = α·Σ_{c,r,s} x[n,c, p·u − padH + r·dilH, q·v − padW + s·dilW]·w[k,c,r,s] + β·y
//   backward data    dx[n,c,h,w] = α·Σ over every (k,r,s,p,q) whose tap lands on (h,w) of dy[n,k,p,q]·w[k,c,r,s] + β·dx
//   backward filter  dw[k,c,r,s] = α·Σ_{n,p,q} dy[n,k,p,q]·x[n,c, p·u − padH + r·dilH, q·v − padW + s·dilW] + β·dw
// with taps outside the image skipped (zero padding), P = (H + 2·padH − dilH·(R − 1) − 1)/u + 1 (likewise Q), sums
// in double, in a fixed order, rounded once; β = 0 never reads the output.
//
// The algorithm queries (_v7) return what a GPU's would, in shape: ranked lists with status, determinism and math
// type. The math type is the descriptor's (CUDNN_FMA_MATH when the backend asks for full fp32). Forward offers one
// deterministic algorithm; the backward passes rank a non-deterministic algorithm 0 first (as cuDNN does: atomics)
// and the deterministic algorithm 1 second, so a caller that takes the first entry silently loses determinism.
// FINGEN_STANDIN_CUDNN_NONDETERMINISTIC_ONLY=1 (or fgStandInSetOption) offers the backward passes algorithm 0 alone. Backward data and
// filter ask for a small workspace and scribble over it, so a caller that passes too little or shares it is caught.
//
// Like cuDNN 9, cudnnCreate loads its sub-libraries (libcudnn_ops.so.9, libcudnn_cnn.so.9) by file name through the
// loader's search path and fails with CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED (1008) when they are not found there
// (or already loaded): a program that loads libcudnn.so.9 from a folder must load its sub-libraries from there too.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "standin.h"

namespace
{
using namespace fg_standin;

// cudnnStatus_t (cuDNN 9's numbering)
enum : int
{
    kDnnSuccess = 0,
    kDnnNotInitialized = 1001,
    kDnnSublibraryLoadingFailed = 1008,
    kDnnBadParam = 2000,
    kDnnBadParamNullPointer = 2002,
    kDnnBadParamShapeMismatch = 2008,
    kDnnNotSupported = 3000,
    kDnnExecutionFailed = 5000,
};

enum DescriptorKind
{
    kTensor,
    kFilter,
    kConvolution,
};

struct Descriptor
{
    DescriptorKind kind;
    bool set = false;
    int format = 0, type = 0;
    int dims[4] = {0, 0, 0, 0};  // tensor n c h w; filter k c r s
    // convolution
    int pad[2] = {0, 0}, stride[2] = {1, 1}, dilation[2] = {1, 1}, mode = 1, compute = 0, math = 0;
};

struct Handle
{
    void* stream = nullptr;
};

std::mutex g_mutex;
std::map<void*, std::unique_ptr<Handle>>& handles()
{
    static auto* h = new std::map<void*, std::unique_ptr<Handle>>();
    return *h;
}
std::map<void*, std::unique_ptr<Descriptor>>& descriptors()
{
    static auto* d = new std::map<void*, std::unique_ptr<Descriptor>>();
    return *d;
}

Handle* find_handle(void* handle)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = handles().find(handle);
    return it == handles().end() ? nullptr : it->second.get();
}

Descriptor* find(void* descriptor, DescriptorKind kind)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = descriptors().find(descriptor);
    return it == descriptors().end() || it->second->kind != kind ? nullptr : it->second.get();
}

int create(void** out, DescriptorKind kind)
{
    if (out == nullptr) return kDnnBadParamNullPointer;
    auto d = std::make_unique<Descriptor>();
    d->kind = kind;
    std::lock_guard<std::mutex> lock(g_mutex);
    *out = d.get();
    descriptors()[d.get()] = std::move(d);
    return kDnnSuccess;
}

int destroy(void* descriptor, DescriptorKind kind)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = descriptors().find(descriptor);
    if (it == descriptors().end() || it->second->kind != kind) return kDnnBadParam;
    descriptors().erase(it);
    return kDnnSuccess;
}

int dnn_fail(int status, const std::string& detail)
{
    fail(kErrorInvalidValue, detail);
    return status;
}

// The geometry of one convolution, checked once for any pass.
struct Geometry
{
    int n, c, h, w, k, r, s, p, q;
    int pad_h, pad_w, u, v, dil_h, dil_w;
    bool flip;
};

int geometry(const char* call, const Descriptor* x, const Descriptor* f, const Descriptor* conv, const Descriptor* y, Geometry* g)
{
    if (x == nullptr || f == nullptr || conv == nullptr || y == nullptr) return dnn_fail(kDnnBadParam, std::string(call) + ": unknown descriptor");
    if (!x->set || !f->set || !conv->set || !y->set) return dnn_fail(kDnnBadParam, std::string(call) + ": a descriptor was never set");
    if (x->type != 0 || f->type != 0 || y->type != 0 || conv->compute != 0)
        return dnn_fail(kDnnNotSupported, std::string(call) + ": the stand-in computes float data only");
    if (x->format != 0 || f->format != 0 || y->format != 0) return dnn_fail(kDnnNotSupported, std::string(call) + ": the stand-in implements NCHW only");
    *g = Geometry{x->dims[0], x->dims[1], x->dims[2], x->dims[3], f->dims[0], f->dims[2], f->dims[3], 0, 0,
                  conv->pad[0], conv->pad[1], conv->stride[0], conv->stride[1], conv->dilation[0], conv->dilation[1], conv->mode == 0};
    if (f->dims[1] != g->c)
        return dnn_fail(kDnnBadParamShapeMismatch, std::string(call) + ": filter has " + std::to_string(f->dims[1]) + " input channels, the image " +
                                                       std::to_string(g->c));
    const int span_h = g->dil_h * (g->r - 1) + 1, span_w = g->dil_w * (g->s - 1) + 1;
    if (g->h + 2 * g->pad_h < span_h || g->w + 2 * g->pad_w < span_w)
        return dnn_fail(kDnnBadParam, std::string(call) + ": the filter does not fit the padded image");
    g->p = (g->h + 2 * g->pad_h - span_h) / g->u + 1;
    g->q = (g->w + 2 * g->pad_w - span_w) / g->v + 1;
    if (y->dims[0] != g->n || y->dims[1] != g->k || y->dims[2] != g->p || y->dims[3] != g->q)
        return dnn_fail(kDnnBadParam, std::string(call) + ": output descriptor is " + std::to_string(y->dims[0]) + "x" + std::to_string(y->dims[1]) +
                                          "x" + std::to_string(y->dims[2]) + "x" + std::to_string(y->dims[3]) + ", the convolution gives " +
                                          std::to_string(g->n) + "x" + std::to_string(g->k) + "x" + std::to_string(g->p) + "x" + std::to_string(g->q));
    return kDnnSuccess;
}

size_t elements(const Descriptor* d) { return size_t(d->dims[0]) * d->dims[1] * d->dims[2] * d->dims[3]; }

int buffer_check(const char* call, const char* name, const void* p, size_t count)
{
    if (p == nullptr) return dnn_fail(kDnnBadParamNullPointer, std::string(call) + ": " + name + " is null");
    std::string problem = device_range_problem(reinterpret_cast<uintptr_t>(p), count * sizeof(float));
    return problem.empty() ? kDnnSuccess : dnn_fail(kDnnExecutionFailed, std::string(call) + ": " + name + ": " + problem);
}

std::atomic<int> g_nondeterministic_only{-1};  // -1: not set by fgStandInSetOption, read the environment

bool nondeterministic_only()
{
    const int set = g_nondeterministic_only.load();
    if (set >= 0) return set != 0;
    const char* v = std::getenv("FINGEN_STANDIN_CUDNN_NONDETERMINISTIC_ONLY");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

// cudnnConvolution*AlgoPerf_t: { algo, status, time, memory, determinism, mathType, reserved[3] }
struct AlgoPerf
{
    int algo;
    int status;
    float time;
    size_t memory;
    int determinism;
    int math;
    int reserved[3];
};

enum Pass
{
    kForward,
    kBackwardData,
    kBackwardFilter,
};

size_t workspace_for(Pass pass, int algo) { return pass == kForward || algo == 0 ? 0 : (pass == kBackwardData ? 4096 : 8192); }

int report(Pass pass, const Descriptor* conv, int requested, int* returned, void* out)
{
    if (requested <= 0 || returned == nullptr || out == nullptr) return kDnnBadParam;
    std::vector<AlgoPerf> list;
    auto entry = [&](int algo, bool deterministic) {
        list.push_back(AlgoPerf{algo, kDnnSuccess, 1.0f, workspace_for(pass, algo), deterministic ? 1 : 0, conv->math, {0, 0, 0}});
    };
    if (pass == kForward)
    {
        entry(0, true);
    }
    else
    {
        entry(0, false);
        if (!nondeterministic_only()) entry(1, true);
    }
    const int count = int(list.size()) < requested ? int(list.size()) : requested;
    std::memcpy(out, list.data(), size_t(count) * sizeof(AlgoPerf));
    *returned = count;
    return kDnnSuccess;
}

int workspace_check(const char* call, Pass pass, int algo, const void* workspace, size_t bytes)
{
    const size_t needed = workspace_for(pass, algo);
    if (bytes < needed)
        return dnn_fail(kDnnBadParam, std::string(call) + ": algorithm " + std::to_string(algo) + " needs " + std::to_string(needed) +
                                          " bytes of workspace, got " + std::to_string(bytes));
    if (bytes > 0) return buffer_check(call, "workspace", workspace, bytes / sizeof(float));
    return kDnnSuccess;
}

int algo_check(const char* call, Pass pass, int algo)
{
    const int count = pass == kForward ? 8 : (pass == kBackwardData ? 6 : 7);
    if (algo < 0 || algo >= count) return dnn_fail(kDnnBadParam, std::string(call) + ": no algorithm " + std::to_string(algo));
    if (pass == kForward ? algo != 0 : algo > 1)
        return dnn_fail(kDnnNotSupported, std::string(call) + ": the stand-in implements only the algorithms its queries offer");
    return kDnnSuccess;
}

int enqueue(Handle* h, const char* what, Work work)
{
    int status;
    Stream* stream = resolve_stream(h->stream, &status);
    if (status != kSuccess) return kDnnBadParam;
    return submit(stream, Task{what, std::move(work)}) == kSuccess ? kDnnSuccess : kDnnExecutionFailed;
}

void scribble(void* workspace, size_t bytes)
{
    if (workspace != nullptr && bytes > 0) std::memset(workspace, 0xA5, bytes);
}

inline float store(double sum, double alpha, double beta, float old) { return float(beta == 0.0 ? alpha * sum : alpha * sum + beta * double(old)); }

int ceil_div(int a, int b) { return a > 0 ? (a + b - 1) / b : -((-a) / b); }
int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The output positions o < outputs whose tap t lands inside an input of `size`: o·stride − pad + t·dilation ∈ [0, size).
struct Range
{
    int first, last;  // inclusive; empty when first > last
};

Range taps(int t, int outputs, int size, int stride, int pad, int dilation)
{
    const int offset = pad - t * dilation;
    int first = ceil_div(offset, stride), last = floor_div(size - 1 + offset, stride);
    if (first < 0) first = 0;
    if (last > outputs - 1) last = outputs - 1;
    return Range{first, last};
}

// Each output element is a sum over (c, r, s) in that order, of products in double.
void forward(const Geometry& g, double alpha, const float* x, const float* w, double beta, float* y)
{
    std::vector<double> sums(size_t(g.p) * g.q);
    for (int n = 0; n < g.n; ++n)
        for (int k = 0; k < g.k; ++k)
        {
            std::fill(sums.begin(), sums.end(), 0.0);
            for (int c = 0; c < g.c; ++c)
            {
                const float* plane = x + (size_t(n) * g.c + c) * g.h * g.w;
                for (int r = 0; r < g.r; ++r)
                {
                    const Range ps = taps(r, g.p, g.h, g.u, g.pad_h, g.dil_h);
                    for (int s = 0; s < g.s; ++s)
                    {
                        const Range qs = taps(s, g.q, g.w, g.v, g.pad_w, g.dil_w);
                        const int rr = g.flip ? g.r - 1 - r : r, ss = g.flip ? g.s - 1 - s : s;
                        const double weight = w[((size_t(k) * g.c + c) * g.r + rr) * g.s + ss];
                        for (int p = ps.first; p <= ps.last; ++p)
                        {
                            const float* row = plane + size_t(p * g.u - g.pad_h + r * g.dil_h) * g.w;
                            double* out = &sums[size_t(p) * g.q];
                            for (int q = qs.first; q <= qs.last; ++q) out[q] += double(row[q * g.v - g.pad_w + s * g.dil_w]) * weight;
                        }
                    }
                }
            }
            float* plane = y + (size_t(n) * g.k + k) * g.p * g.q;
            for (size_t i = 0; i < sums.size(); ++i) plane[i] = store(sums[i], alpha, beta, plane[i]);
        }
}

// Each input element gathers, over (k, r, s) in that order, the products of every output its taps reach.
void backward_data(const Geometry& g, double alpha, const float* w, const float* dy, double beta, float* dx)
{
    std::vector<double> sums(size_t(g.h) * g.w);
    for (int n = 0; n < g.n; ++n)
        for (int c = 0; c < g.c; ++c)
        {
            std::fill(sums.begin(), sums.end(), 0.0);
            for (int k = 0; k < g.k; ++k)
            {
                const float* plane = dy + (size_t(n) * g.k + k) * g.p * g.q;
                for (int r = 0; r < g.r; ++r)
                {
                    const Range ps = taps(r, g.p, g.h, g.u, g.pad_h, g.dil_h);
                    for (int s = 0; s < g.s; ++s)
                    {
                        const Range qs = taps(s, g.q, g.w, g.v, g.pad_w, g.dil_w);
                        const int rr = g.flip ? g.r - 1 - r : r, ss = g.flip ? g.s - 1 - s : s;
                        const double weight = w[((size_t(k) * g.c + c) * g.r + rr) * g.s + ss];
                        for (int p = ps.first; p <= ps.last; ++p)
                        {
                            const float* row = plane + size_t(p) * g.q;
                            double* out = &sums[size_t(p * g.u - g.pad_h + r * g.dil_h) * g.w];
                            for (int q = qs.first; q <= qs.last; ++q) out[q * g.v - g.pad_w + s * g.dil_w] += double(row[q]) * weight;
                        }
                    }
                }
            }
            float* plane = dx + (size_t(n) * g.c + c) * g.h * g.w;
            for (size_t i = 0; i < sums.size(); ++i) plane[i] = store(sums[i], alpha, beta, plane[i]);
        }
}

// Each filter element is a sum over (n, p, q) in that order.
void backward_filter(const Geometry& g, double alpha, const float* x, const float* dy, double beta, float* dw)
{
    for (int k = 0; k < g.k; ++k)
        for (int c = 0; c < g.c; ++c)
            for (int r = 0; r < g.r; ++r)
            {
                const Range ps = taps(r, g.p, g.h, g.u, g.pad_h, g.dil_h);
                for (int s = 0; s < g.s; ++s)
                {
                    const Range qs = taps(s, g.q, g.w, g.v, g.pad_w, g.dil_w);
                    double sum = 0.0;
                    for (int n = 0; n < g.n; ++n)
                    {
                        const float* grad = dy + (size_t(n) * g.k + k) * g.p * g.q;
                        const float* image = x + (size_t(n) * g.c + c) * g.h * g.w;
                        for (int p = ps.first; p <= ps.last; ++p)
                        {
                            const float* grow = grad + size_t(p) * g.q;
                            const float* xrow = image + size_t(p * g.u - g.pad_h + r * g.dil_h) * g.w;
                            for (int q = qs.first; q <= qs.last; ++q) sum += double(grow[q]) * double(xrow[q * g.v - g.pad_w + s * g.dil_w]);
                        }
                    }
                    const int rr = g.flip ? g.r - 1 - r : r, ss = g.flip ? g.s - 1 - s : s;
                    float& out = dw[((size_t(k) * g.c + c) * g.r + rr) * g.s + ss];
                    out = store(sum, alpha, beta, out);
                }
            }
}
}  // namespace

extern "C" {

// The stand-in's own knob for tests (a managed runtime's environment changes do not reach getenv):
// "cudnn_nondeterministic_only" 1 makes the backward algorithm queries offer only non-deterministic algorithms.
int fgStandInSetOption(const char* name, int value)
{
    if (name == nullptr) return kErrorInvalidValue;
    if (std::strcmp(name, "cudnn_nondeterministic_only") == 0)
    {
        g_nondeterministic_only = value != 0 ? 1 : 0;
        return kSuccess;
    }
    return kErrorNotFound;
}

int cudnnCreate(void** handle)
{
    if (handle == nullptr) return kDnnBadParamNullPointer;
    if (!initialized() || !context_current()) return kDnnNotInitialized;
    for (const char* sublibrary : {"libcudnn_ops.so.9", "libcudnn_cnn.so.9"})
    {
        if (dlopen(sublibrary, RTLD_NOW | RTLD_LOCAL) == nullptr)
        {
            fail(kErrorNotFound, std::string("cudnnCreate: could not load ") + sublibrary + " from the loader's search path: " + dlerror());
            return kDnnSublibraryLoadingFailed;
        }
    }
    auto h = std::make_unique<Handle>();
    std::lock_guard<std::mutex> lock(g_mutex);
    *handle = h.get();
    handles()[h.get()] = std::move(h);
    return kDnnSuccess;
}

int cudnnDestroy(void* handle)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    return handles().erase(handle) == 1 ? kDnnSuccess : kDnnBadParam;
}

size_t cudnnGetVersion() { return 90100; }

int cudnnSetStream(void* handle, void* stream)
{
    Handle* h = find_handle(handle);
    if (h == nullptr) return kDnnBadParam;
    int status;
    resolve_stream(stream, &status);
    if (status != kSuccess) return kDnnBadParam;
    h->stream = stream;
    return kDnnSuccess;
}

const char* cudnnGetErrorString(int status)
{
    switch (status)
    {
        case kDnnSuccess: return "CUDNN_STATUS_SUCCESS";
        case kDnnNotInitialized: return "CUDNN_STATUS_NOT_INITIALIZED";
        case kDnnSublibraryLoadingFailed: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
        case kDnnBadParam: return "CUDNN_STATUS_BAD_PARAM";
        case kDnnBadParamNullPointer: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
        case kDnnBadParamShapeMismatch: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
        case kDnnNotSupported: return "CUDNN_STATUS_NOT_SUPPORTED";
        case kDnnExecutionFailed: return "CUDNN_STATUS_EXECUTION_FAILED";
        default: return "CUDNN_UNKNOWN_STATUS";
    }
}

int cudnnCreateTensorDescriptor(void** d) { return create(d, kTensor); }
int cudnnDestroyTensorDescriptor(void* d) { return destroy(d, kTensor); }
int cudnnCreateFilterDescriptor(void** d) { return create(d, kFilter); }
int cudnnDestroyFilterDescriptor(void* d) { return destroy(d, kFilter); }
int cudnnCreateConvolutionDescriptor(void** d) { return create(d, kConvolution); }
int cudnnDestroyConvolutionDescriptor(void* d) { return destroy(d, kConvolution); }

int cudnnSetTensor4dDescriptor(void* descriptor, int format, int type, int n, int c, int h, int w)
{
    Descriptor* d = find(descriptor, kTensor);
    if (d == nullptr) return kDnnBadParam;
    if (format < 0 || format > 2 || type < 0 || type > 14 || n <= 0 || c <= 0 || h <= 0 || w <= 0) return kDnnBadParam;
    d->format = format;
    d->type = type;
    d->dims[0] = n, d->dims[1] = c, d->dims[2] = h, d->dims[3] = w;
    d->set = true;
    return kDnnSuccess;
}

int cudnnSetFilter4dDescriptor(void* descriptor, int type, int format, int k, int c, int h, int w)
{
    Descriptor* d = find(descriptor, kFilter);
    if (d == nullptr) return kDnnBadParam;
    if (format < 0 || format > 2 || type < 0 || type > 14 || k <= 0 || c <= 0 || h <= 0 || w <= 0) return kDnnBadParam;
    d->format = format;
    d->type = type;
    d->dims[0] = k, d->dims[1] = c, d->dims[2] = h, d->dims[3] = w;
    d->set = true;
    return kDnnSuccess;
}

int cudnnSetConvolution2dDescriptor(void* descriptor, int pad_h, int pad_w, int u, int v, int dil_h, int dil_w, int mode, int compute)
{
    Descriptor* d = find(descriptor, kConvolution);
    if (d == nullptr) return kDnnBadParam;
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dil_h <= 0 || dil_w <= 0 || (mode != 0 && mode != 1) || compute < 0 || compute > 14)
        return kDnnBadParam;
    d->pad[0] = pad_h, d->pad[1] = pad_w, d->stride[0] = u, d->stride[1] = v, d->dilation[0] = dil_h, d->dilation[1] = dil_w;
    d->mode = mode;
    d->compute = compute;
    d->set = true;
    return kDnnSuccess;
}

int cudnnSetConvolutionMathType(void* descriptor, int math)
{
    Descriptor* d = find(descriptor, kConvolution);
    if (d == nullptr) return kDnnBadParam;
    if (math < 0 || math > 3) return kDnnBadParam;
    d->math = math;
    return kDnnSuccess;
}

int cudnnGetConvolutionForwardAlgorithmMaxCount(void* handle, int* count)
{
    if (find_handle(handle) == nullptr || count == nullptr) return kDnnBadParam;
    *count = 8;
    return kDnnSuccess;
}

int cudnnGetConvolutionBackwardDataAlgorithmMaxCount(void* handle, int* count)
{
    if (find_handle(handle) == nullptr || count == nullptr) return kDnnBadParam;
    *count = 6;
    return kDnnSuccess;
}

int cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(void* handle, int* count)
{
    if (find_handle(handle) == nullptr || count == nullptr) return kDnnBadParam;
    *count = 7;
    return kDnnSuccess;
}

int cudnnGetConvolutionForwardAlgorithm_v7(void* handle, void* x, void* w, void* conv, void* y, int requested, int* returned, void* results)
{
    if (find_handle(handle) == nullptr) return kDnnBadParam;
    Geometry g;
    const Descriptor* c = find(conv, kConvolution);
    if (int s = geometry("cudnnGetConvolutionForwardAlgorithm_v7", find(x, kTensor), find(w, kFilter), c, find(y, kTensor), &g); s != kDnnSuccess) return s;
    return report(kForward, c, requested, returned, results);
}

int cudnnGetConvolutionBackwardDataAlgorithm_v7(void* handle, void* w, void* dy, void* conv, void* dx, int requested, int* returned, void* results)
{
    if (find_handle(handle) == nullptr) return kDnnBadParam;
    Geometry g;
    const Descriptor* c = find(conv, kConvolution);
    if (int s = geometry("cudnnGetConvolutionBackwardDataAlgorithm_v7", find(dx, kTensor), find(w, kFilter), c, find(dy, kTensor), &g); s != kDnnSuccess)
        return s;
    return report(kBackwardData, c, requested, returned, results);
}

int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void* handle, void* x, void* dy, void* conv, void* dw, int requested, int* returned, void* results)
{
    if (find_handle(handle) == nullptr) return kDnnBadParam;
    Geometry g;
    const Descriptor* c = find(conv, kConvolution);
    if (int s = geometry("cudnnGetConvolutionBackwardFilterAlgorithm_v7", find(x, kTensor), find(dw, kFilter), c, find(dy, kTensor), &g); s != kDnnSuccess)
        return s;
    return report(kBackwardFilter, c, requested, returned, results);
}

int cudnnGetConvolutionForwardWorkspaceSize(void* handle, void* x, void* w, void* conv, void* y, int algo, size_t* bytes)
{
    if (find_handle(handle) == nullptr || bytes == nullptr) return kDnnBadParam;
    Geometry g;
    if (int s = geometry("cudnnGetConvolutionForwardWorkspaceSize", find(x, kTensor), find(w, kFilter), find(conv, kConvolution), find(y, kTensor), &g);
        s != kDnnSuccess)
        return s;
    if (int s = algo_check("cudnnGetConvolutionForwardWorkspaceSize", kForward, algo); s != kDnnSuccess) return s;
    *bytes = workspace_for(kForward, algo);
    return kDnnSuccess;
}

int cudnnGetConvolutionBackwardDataWorkspaceSize(void* handle, void* w, void* dy, void* conv, void* dx, int algo, size_t* bytes)
{
    if (find_handle(handle) == nullptr || bytes == nullptr) return kDnnBadParam;
    Geometry g;
    if (int s = geometry("cudnnGetConvolutionBackwardDataWorkspaceSize", find(dx, kTensor), find(w, kFilter), find(conv, kConvolution), find(dy, kTensor), &g);
        s != kDnnSuccess)
        return s;
    if (int s = algo_check("cudnnGetConvolutionBackwardDataWorkspaceSize", kBackwardData, algo); s != kDnnSuccess) return s;
    *bytes = workspace_for(kBackwardData, algo);
    return kDnnSuccess;
}

int cudnnGetConvolutionBackwardFilterWorkspaceSize(void* handle, void* x, void* dy, void* conv, void* dw, int algo, size_t* bytes)
{
    if (find_handle(handle) == nullptr || bytes == nullptr) return kDnnBadParam;
    Geometry g;
    if (int s = geometry("cudnnGetConvolutionBackwardFilterWorkspaceSize", find(x, kTensor), find(dw, kFilter), find(conv, kConvolution), find(dy, kTensor), &g);
        s != kDnnSuccess)
        return s;
    if (int s = algo_check("cudnnGetConvolutionBackwardFilterWorkspaceSize", kBackwardFilter, algo); s != kDnnSuccess) return s;
    *bytes = workspace_for(kBackwardFilter, algo);
    return kDnnSuccess;
}

int cudnnConvolutionForward(void* handle, const float* alpha, void* xd, const float* x, void* wd, const float* w, void* conv, int algo,
                            void* workspace, size_t workspace_bytes, const float* beta, void* yd, float* y)
{
    const char* call = "cudnnConvolutionForward";
    Handle* h = find_handle(handle);
    if (h == nullptr) return kDnnBadParam;
    if (alpha == nullptr || beta == nullptr) return kDnnBadParamNullPointer;
    Geometry g;
    const Descriptor *xdesc = find(xd, kTensor), *wdesc = find(wd, kFilter), *ydesc = find(yd, kTensor);
    if (int s = geometry(call, xdesc, wdesc, find(conv, kConvolution), ydesc, &g); s != kDnnSuccess) return s;
    if (int s = algo_check(call, kForward, algo); s != kDnnSuccess) return s;
    if (int s = workspace_check(call, kForward, algo, workspace, workspace_bytes); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "x", x, elements(xdesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "w", w, elements(wdesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "y", y, elements(ydesc)); s != kDnnSuccess) return s;
    const double a = *alpha, b = *beta;
    return enqueue(h, call, [=] {
        note_user(reinterpret_cast<uintptr_t>(y), "cudnnConvolutionForward");
        forward(g, a, x, w, b, y);
        return int(kSuccess);
    });
}

int cudnnConvolutionBackwardData(void* handle, const float* alpha, void* wd, const float* w, void* dyd, const float* dy, void* conv, int algo,
                                 void* workspace, size_t workspace_bytes, const float* beta, void* dxd, float* dx)
{
    const char* call = "cudnnConvolutionBackwardData";
    Handle* h = find_handle(handle);
    if (h == nullptr) return kDnnBadParam;
    if (alpha == nullptr || beta == nullptr) return kDnnBadParamNullPointer;
    Geometry g;
    const Descriptor *dxdesc = find(dxd, kTensor), *wdesc = find(wd, kFilter), *dydesc = find(dyd, kTensor);
    if (int s = geometry(call, dxdesc, wdesc, find(conv, kConvolution), dydesc, &g); s != kDnnSuccess) return s;
    if (int s = algo_check(call, kBackwardData, algo); s != kDnnSuccess) return s;
    if (int s = workspace_check(call, kBackwardData, algo, workspace, workspace_bytes); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "w", w, elements(wdesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "dy", dy, elements(dydesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "dx", dx, elements(dxdesc)); s != kDnnSuccess) return s;
    const double a = *alpha, b = *beta;
    const size_t scratch = workspace_for(kBackwardData, algo);
    return enqueue(h, call, [=] {
        scribble(workspace, scratch);
        note_user(reinterpret_cast<uintptr_t>(dx), "cudnnConvolutionBackwardData");
        backward_data(g, a, w, dy, b, dx);
        return int(kSuccess);
    });
}

int cudnnConvolutionBackwardFilter(void* handle, const float* alpha, void* xd, const float* x, void* dyd, const float* dy, void* conv, int algo,
                                   void* workspace, size_t workspace_bytes, const float* beta, void* dwd, float* dw)
{
    const char* call = "cudnnConvolutionBackwardFilter";
    Handle* h = find_handle(handle);
    if (h == nullptr) return kDnnBadParam;
    if (alpha == nullptr || beta == nullptr) return kDnnBadParamNullPointer;
    Geometry g;
    const Descriptor *xdesc = find(xd, kTensor), *dwdesc = find(dwd, kFilter), *dydesc = find(dyd, kTensor);
    if (int s = geometry(call, xdesc, dwdesc, find(conv, kConvolution), dydesc, &g); s != kDnnSuccess) return s;
    if (int s = algo_check(call, kBackwardFilter, algo); s != kDnnSuccess) return s;
    if (int s = workspace_check(call, kBackwardFilter, algo, workspace, workspace_bytes); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "x", x, elements(xdesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "dy", dy, elements(dydesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "dw", dw, elements(dwdesc)); s != kDnnSuccess) return s;
    const double a = *alpha, b = *beta;
    const size_t scratch = workspace_for(kBackwardFilter, algo);
    return enqueue(h, call, [=] {
        scribble(workspace, scratch);
        note_user(reinterpret_cast<uintptr_t>(dw), "cudnnConvolutionBackwardFilter");
        backward_filter(g, a, x, dy, b, dw);
        return int(kSuccess);
    });
}

int cudnnAddTensor(void* handle, const float* alpha, void* ad, const float* a, const float* beta, void* cd, float* c)
{
    const char* call = "cudnnAddTensor";
    Handle* h = find_handle(handle);
    if (h == nullptr) return kDnnBadParam;
    if (alpha == nullptr || beta == nullptr) return kDnnBadParamNullPointer;
    const Descriptor *adesc = find(ad, kTensor), *cdesc = find(cd, kTensor);
    if (adesc == nullptr || cdesc == nullptr || !adesc->set || !cdesc->set) return dnn_fail(kDnnBadParam, "cudnnAddTensor: unknown or unset descriptor");
    if (adesc->type != 0 || cdesc->type != 0) return dnn_fail(kDnnNotSupported, "cudnnAddTensor: float data only");
    if (adesc->format != 0 || cdesc->format != 0) return dnn_fail(kDnnNotSupported, "cudnnAddTensor: NCHW only");
    for (int i = 0; i < 4; ++i)
        if (adesc->dims[i] != 1 && adesc->dims[i] != cdesc->dims[i])
            return dnn_fail(kDnnBadParam, "cudnnAddTensor: A's dimension " + std::to_string(i) + " is neither 1 nor C's");
    if (int s = buffer_check(call, "A", a, elements(adesc)); s != kDnnSuccess) return s;
    if (int s = buffer_check(call, "C", c, elements(cdesc)); s != kDnnSuccess) return s;
    const double al = *alpha, be = *beta;
    int ad_[4], cd_[4];
    for (int i = 0; i < 4; ++i) ad_[i] = adesc->dims[i], cd_[i] = cdesc->dims[i];
    return enqueue(h, call, [=] {
        size_t at = 0;
        for (int n = 0; n < cd_[0]; ++n)
            for (int ch = 0; ch < cd_[1]; ++ch)
                for (int y = 0; y < cd_[2]; ++y)
                    for (int x = 0; x < cd_[3]; ++x, ++at)
                    {
                        const size_t ai = ((size_t(ad_[0] == 1 ? 0 : n) * ad_[1] + (ad_[1] == 1 ? 0 : ch)) * ad_[2] + (ad_[2] == 1 ? 0 : y)) * ad_[3] +
                                          (ad_[3] == 1 ? 0 : x);
                        c[at] = store(double(a[ai]), al, be, c[at]);
                    }
        return int(kSuccess);
    });
}

}  // extern "C"
