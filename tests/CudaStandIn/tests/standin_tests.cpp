// standin_tests.cpp — the stand-in's own tests: through its C entry points, the reference SGEMM and convolutions
// against cases computed by hand, descriptors cuDNN refuses, the launch checks, guard zones and what stream capture
// refuses; and the fiber scheduler itself (barriers, seeded thread orders, a barrier in divergent code), with kernels
// written here. Prints "standin_tests: N passed, N failed" and exits non-zero on any failure.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// The scheduler's own checks use a kernel written here, through the same shim as kernels/*.cu.
#include "../include/fg_cuda_shim.h"
#include "../src/standin.h"

extern "C" {
int cuInit(unsigned);
int cuDevicePrimaryCtxRetain(void**, int);
int cuCtxSetCurrent(void*);
int cuMemAlloc_v2(unsigned long long*, size_t);
int cuMemFree_v2(unsigned long long);
int cuMemAllocHost_v2(void**, size_t);
int cuMemcpyHtoD_v2(unsigned long long, const void*, size_t);
int cuMemcpyDtoH_v2(void*, unsigned long long, size_t);
int cuStreamCreate(void**, unsigned);
int cuStreamDestroy_v2(void*);
int cuStreamSynchronize(void*);
int cuStreamBeginCapture_v2(void*, int);
int cuStreamEndCapture(void*, void**);
int cuGraphInstantiateWithFlags(void**, void*, unsigned long long);
int cuGraphLaunch(void*, void*);
int cuModuleLoadData(void**, const void*);
int cuModuleGetFunction(void**, void*, const char*);
int cuLaunchKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);
int cuGetErrorString(int, const char**);
int cublasCreate_v2(void**);
int cublasSetStream_v2(void*, void*);
int cublasSgemm_v2(void*, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*, float*, int);
int cudnnCreate(void**);
int cudnnCreateTensorDescriptor(void**);
int cudnnCreateFilterDescriptor(void**);
int cudnnCreateConvolutionDescriptor(void**);
int cudnnSetTensor4dDescriptor(void*, int, int, int, int, int, int);
int cudnnSetFilter4dDescriptor(void*, int, int, int, int, int, int);
int cudnnSetConvolution2dDescriptor(void*, int, int, int, int, int, int, int, int);
int cudnnConvolutionForward(void*, const float*, void*, const float*, void*, const float*, void*, int, void*, size_t, const float*, void*, float*);
int cudnnConvolutionBackwardData(void*, const float*, void*, const float*, void*, const float*, void*, int, void*, size_t, const float*, void*, float*);
int cudnnConvolutionBackwardFilter(void*, const float*, void*, const float*, void*, const float*, void*, int, void*, size_t, const float*, void*, float*);
int fgStandInLastLaunch(const char*, unsigned*, unsigned*);
}

namespace
{
int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what)
{
    if (ok)
    {
        ++g_passed;
        return;
    }
    ++g_failed;
    std::printf("FAILED: %s\n", what.c_str());
}

void expect_status(int got, int want, const std::string& what)
{
    check(got == want, what + ": status " + std::to_string(got) + ", expected " + std::to_string(want));
}

unsigned long long upload(const std::vector<float>& values)
{
    unsigned long long p = 0;
    cuMemAlloc_v2(&p, values.size() * sizeof(float));
    cuMemcpyHtoD_v2(p, values.data(), values.size() * sizeof(float));
    return p;
}

std::vector<float> download(unsigned long long p, size_t n)
{
    std::vector<float> values(n);
    cuMemcpyDtoH_v2(values.data(), p, n * sizeof(float));
    return values;
}

void expect_values(const std::vector<float>& got, const std::vector<float>& want, const std::string& what)
{
    bool same = got.size() == want.size();
    for (size_t i = 0; same && i < got.size(); ++i) same = std::fabs(got[i] - want[i]) <= 1e-6f * (1.0f + std::fabs(want[i]));
    std::string text = what + ": got";
    for (float v : got) text += " " + std::to_string(v);
    check(same, text);
}

void gemm_cases()
{
    void* blas = nullptr;
    expect_status(cublasCreate_v2(&blas), 0, "cublasCreate");
    // Column-major A (2x3) = [1 3 5; 2 4 6], B (3x2) = [1 4; 2 5; 3 6]: A·B = [22 49; 28 64].
    auto a = upload({1, 2, 3, 4, 5, 6});
    auto b = upload({1, 2, 3, 4, 5, 6});
    auto c = upload({NAN, NAN, NAN, NAN});
    const float one = 1, zero = 0;
    expect_status(cublasSgemm_v2(blas, 0, 0, 2, 2, 3, &one, reinterpret_cast<float*>(a), 2, reinterpret_cast<float*>(b), 3, &zero,
                                 reinterpret_cast<float*>(c), 2), 0, "sgemm NN");
    expect_values(download(c, 4), {22, 28, 49, 64}, "sgemm NN, beta 0 ignores NaN in C");
    // Aᵀ·Bᵀ with A read as 3x2 (lda 3) and B as 2x3 (ldb 2): A' = [1 4; 2 5; 3 6], B' = [1 3 5; 2 4 6]
    // A'·B' = [9 19 29; 12 26 40; 15 33 51]; op(A) = A'ᵀ... computed: transa=T on the 3x2 stored matrix gives 2x3.
    auto c2 = upload({1, 1, 1, 1});
    const float two = 2, half = 0.5f;
    // op(A) = (3x2 stored, lda 3)ᵀ = [1 2 3; 4 5 6]; op(B) = (2x3 stored, ldb 2)ᵀ = [1 2; 3 4; 5 6]
    // op(A)·op(B) = [22 28; 49 64]; C = 2·that + 0.5·1.
    expect_status(cublasSgemm_v2(blas, 1, 1, 2, 2, 3, &two, reinterpret_cast<float*>(a), 3, reinterpret_cast<float*>(b), 2, &half,
                                 reinterpret_cast<float*>(c2), 2), 0, "sgemm TT");
    expect_values(download(c2, 4), {44.5f, 98.5f, 56.5f, 128.5f}, "sgemm TT with alpha 2, beta 0.5");
    expect_status(cublasSgemm_v2(blas, 0, 0, 2, 2, 3, &one, reinterpret_cast<float*>(a), 1, reinterpret_cast<float*>(b), 3, &zero,
                                 reinterpret_cast<float*>(c), 2), 7, "sgemm refuses lda < m");
    std::vector<float> host(6, 1.0f);
    expect_status(cublasSgemm_v2(blas, 0, 0, 2, 2, 3, &one, host.data(), 2, reinterpret_cast<float*>(b), 3, &zero,
                                 reinterpret_cast<float*>(c), 2), 7, "sgemm refuses a host matrix");
    expect_status(cublasSgemm_v2(blas, 0, 0, 2, 3, 3, &one, reinterpret_cast<float*>(a), 2, reinterpret_cast<float*>(b), 3, &zero,
                                 reinterpret_cast<float*>(c), 2), 7, "sgemm refuses a C past its allocation");
    cuMemFree_v2(a), cuMemFree_v2(b), cuMemFree_v2(c), cuMemFree_v2(c2);
}

void conv_cases()
{
    void* dnn = nullptr;
    expect_status(cudnnCreate(&dnn), 0, "cudnnCreate (sub-libraries on the loader path)");
    void *x = nullptr, *y = nullptr, *w = nullptr, *conv = nullptr, *y2 = nullptr, *bad = nullptr;
    cudnnCreateTensorDescriptor(&x), cudnnCreateTensorDescriptor(&y), cudnnCreateTensorDescriptor(&y2), cudnnCreateFilterDescriptor(&w);
    cudnnCreateConvolutionDescriptor(&conv), cudnnCreateFilterDescriptor(&bad);
    cudnnSetTensor4dDescriptor(x, 0, 0, 1, 1, 3, 3);
    cudnnSetTensor4dDescriptor(y, 0, 0, 1, 1, 2, 2);
    cudnnSetFilter4dDescriptor(w, 0, 0, 1, 1, 2, 2);
    cudnnSetConvolution2dDescriptor(conv, 0, 0, 1, 1, 1, 1, 1, 0);
    auto dx = upload({1, 2, 3, 4, 5, 6, 7, 8, 9});
    auto dw = upload({1, 0, 0, 1});
    auto dy = upload({NAN, NAN, NAN, NAN});
    const float one = 1, zero = 0;
    expect_status(cudnnConvolutionForward(dnn, &one, x, reinterpret_cast<float*>(dx), w, reinterpret_cast<float*>(dw), conv, 0, nullptr, 0, &zero, y,
                                          reinterpret_cast<float*>(dy)), 0, "conv forward");
    expect_values(download(dy, 4), {6, 8, 12, 14}, "cross-correlation of 1..9 with the 2x2 identity");
    // Padding 1, stride 2: taps outside the image are zeros.
    cudnnSetConvolution2dDescriptor(conv, 1, 1, 2, 2, 1, 1, 1, 0);
    expect_status(cudnnConvolutionForward(dnn, &one, x, reinterpret_cast<float*>(dx), w, reinterpret_cast<float*>(dw), conv, 0, nullptr, 0, &zero, y,
                                          reinterpret_cast<float*>(dy)), 0, "conv forward padded");
    expect_values(download(dy, 4), {1, 3, 7, 14}, "padding 1, stride 2");
    cudnnSetConvolution2dDescriptor(conv, 0, 0, 1, 1, 1, 1, 1, 0);
    auto ones = upload({1, 1, 1, 1});
    auto grad = upload({NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN});
    unsigned long long workspace = 0;
    cuMemAlloc_v2(&workspace, 8192);
    expect_status(cudnnConvolutionBackwardData(dnn, &one, w, reinterpret_cast<float*>(dw), y, reinterpret_cast<float*>(ones), conv, 1,
                                               reinterpret_cast<void*>(workspace), 8192, &zero, x, reinterpret_cast<float*>(grad)), 0, "backward data");
    expect_values(download(grad, 9), {1, 1, 0, 1, 2, 1, 0, 1, 1}, "backward data of ones");
    expect_status(cudnnConvolutionBackwardData(dnn, &one, w, reinterpret_cast<float*>(dw), y, reinterpret_cast<float*>(ones), conv, 1, nullptr, 0, &zero,
                                               x, reinterpret_cast<float*>(grad)), 2000, "backward data refuses a missing workspace");
    auto filter_grad = upload({100, 100, 100, 100});
    expect_status(cudnnConvolutionBackwardFilter(dnn, &one, x, reinterpret_cast<float*>(dx), y, reinterpret_cast<float*>(ones), conv, 1,
                                                 reinterpret_cast<void*>(workspace), 8192, &one, w, reinterpret_cast<float*>(filter_grad)), 0, "backward filter");
    expect_values(download(filter_grad, 4), {112, 116, 124, 128}, "backward filter of ones, accumulated (beta 1)");
    // Refusals: a filter of the wrong channel count, an output of the wrong size, a descriptor never set.
    cudnnSetFilter4dDescriptor(bad, 0, 0, 1, 2, 2, 2);
    expect_status(cudnnConvolutionForward(dnn, &one, x, reinterpret_cast<float*>(dx), bad, reinterpret_cast<float*>(dw), conv, 0, nullptr, 0, &zero, y,
                                          reinterpret_cast<float*>(dy)), 2008, "channel mismatch");
    cudnnSetTensor4dDescriptor(y2, 0, 0, 1, 1, 3, 3);
    expect_status(cudnnConvolutionForward(dnn, &one, x, reinterpret_cast<float*>(dx), w, reinterpret_cast<float*>(dw), conv, 0, nullptr, 0, &zero, y2,
                                          reinterpret_cast<float*>(dy)), 2000, "wrong output shape");
    void* unset = nullptr;
    cudnnCreateTensorDescriptor(&unset);
    expect_status(cudnnConvolutionForward(dnn, &one, unset, reinterpret_cast<float*>(dx), w, reinterpret_cast<float*>(dw), conv, 0, nullptr, 0, &zero, y,
                                          reinterpret_cast<float*>(dy)), 2000, "unset descriptor");
    expect_status(cudnnSetTensor4dDescriptor(unset, 0, 0, 0, 1, 1, 1), 2000, "zero batch");
    cudnnSetTensor4dDescriptor(unset, 1, 0, 1, 1, 3, 3);
    expect_status(cudnnConvolutionForward(dnn, &one, unset, reinterpret_cast<float*>(dx), w, reinterpret_cast<float*>(dw), conv, 0, nullptr, 0, &zero, y,
                                          reinterpret_cast<float*>(dy)), 3000, "NHWC is not supported by the stand-in");
}

void launch_cases(void* module)
{
    void *fill = nullptr, *mse = nullptr;
    expect_status(cuModuleGetFunction(&fill, module, "fg_fill"), 0, "fg_fill found");
    expect_status(cuModuleGetFunction(&mse, module, "fg_mse_forward"), 0, "fg_mse_forward found");
    void* missing = nullptr;
    expect_status(cuModuleGetFunction(&missing, module, "fg_no_such_kernel"), 500, "unknown kernel");
    unsigned long long y = 0;
    cuMemAlloc_v2(&y, 100 * sizeof(float));
    float* py = reinterpret_cast<float*>(y);
    float value = 3.5f;
    int n = 100;
    void* args[] = {&py, &value, &n};
    unsigned grid = 0, block = 0;
    expect_status(fgStandInLastLaunch("fg_mse_forward", &grid, &block), 1, "the launch hook: a kernel never launched");
    expect_status(fgStandInLastLaunch("fg_no_such_kernel", &grid, &block), 500, "the launch hook: an unknown kernel");
    expect_status(cuLaunchKernel(fill, 3, 1, 1, 128, 1, 1, 0, nullptr, args, nullptr), 0, "a good launch");
    expect_status(fgStandInLastLaunch("fg_fill", &grid, &block), 0, "the launch hook: a launched kernel");
    check(grid == 3 && block == 128, "the launch hook reports grid 3, block 128: " + std::to_string(grid) + ", " + std::to_string(block));
    expect_values(download(y, 3), {3.5f, 3.5f, 3.5f}, "fg_fill wrote");
    expect_status(cuLaunchKernel(fill, 0, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr), 1, "grid 0");
    expect_status(cuLaunchKernel(fill, 1, 1, 1, 1025, 1, 1, 0, nullptr, args, nullptr), 1, "1025 threads");
    expect_status(cuLaunchKernel(nullptr, 1, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr), 400, "no function");
    float* loss = py;
    float* p = py;
    float scale = 1;
    void* mse_args[] = {&p, &p, &loss, &scale, &n};
    expect_status(cuLaunchKernel(mse, 1, 1, 1, 1024, 1, 1, 0, nullptr, mse_args, nullptr), 1, "beyond __launch_bounds__(512)");
    std::vector<float> host(100);
    float* hp = host.data();
    void* host_args[] = {&hp, &value, &n};
    expect_status(cuLaunchKernel(fill, 1, 1, 1, 256, 1, 1, 0, nullptr, host_args, nullptr), 1, "a host pointer argument");
    float* misaligned = reinterpret_cast<float*>(y + 2);
    void* misaligned_args[] = {&misaligned, &value, &n};
    expect_status(cuLaunchKernel(fill, 1, 1, 1, 256, 1, 1, 0, nullptr, misaligned_args, nullptr), 1, "a misaligned pointer");
    // One element too many: the write lands in the guard zone and the next synchronization names the kernel.
    void* stream = nullptr;
    cuStreamCreate(&stream, 1);
    int too_many = 101;
    void* oob_args[] = {&py, &value, &too_many};
    expect_status(cuLaunchKernel(fill, 1, 1, 1, 256, 1, 1, 0, stream, oob_args, nullptr), 0, "an out-of-bounds launch is accepted");
    const int status = cuStreamSynchronize(stream);
    expect_status(status, 700, "the out-of-bounds write is reported at synchronization");
    const char* text = nullptr;
    cuGetErrorString(700, &text);
    check(text != nullptr && std::strstr(text, "fg_fill") != nullptr && std::strstr(text, "0 bytes past its end") != nullptr,
          std::string("the report names the kernel and where: ") + (text ? text : "(null)"));
    expect_status(cuStreamSynchronize(stream), 0, "reported once");
    cuMemFree_v2(y);
    expect_status(cuLaunchKernel(fill, 1, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr), 1, "freed memory");
    cuStreamDestroy_v2(stream);
}

void capture_cases(void* module)
{
    void* fill = nullptr;
    cuModuleGetFunction(&fill, module, "fg_fill");
    unsigned long long y = 0;
    cuMemAlloc_v2(&y, 16 * sizeof(float));
    float* py = reinterpret_cast<float*>(y);
    float value = 1.0f;
    int n = 16;
    void* args[] = {&py, &value, &n};
    std::vector<float> host(16);

    // A capture records instead of running; a replay runs the recording.
    void* stream = nullptr;
    cuStreamCreate(&stream, 1);
    cuMemcpyHtoD_v2(y, std::vector<float>(16, 0.0f).data(), 64);
    expect_status(cuStreamBeginCapture_v2(stream, 1), 0, "begin capture");
    expect_status(cuLaunchKernel(fill, 1, 1, 1, 32, 1, 1, 0, stream, args, nullptr), 0, "launch captured");
    void* graph = nullptr;
    expect_status(cuStreamEndCapture(stream, &graph), 0, "end capture");
    expect_values(download(y, 2), {0, 0}, "nothing ran during capture");
    void* exec = nullptr;
    expect_status(cuGraphInstantiateWithFlags(&exec, graph, 0), 0, "instantiate");
    expect_status(cuGraphLaunch(exec, stream), 0, "replay");
    cuStreamSynchronize(stream);
    expect_values(download(y, 2), {1, 1}, "the replay ran the kernel");

    // What a thread-local capture refuses on its own thread: synchronous copies, allocation, synchronizing the stream.
    cuStreamBeginCapture_v2(stream, 1);
    expect_status(cuMemcpyDtoH_v2(host.data(), y, 64), 900, "a synchronous copy during capture");
    expect_status(cuStreamEndCapture(stream, &graph), 901, "the capture was invalidated");
    cuStreamBeginCapture_v2(stream, 1);
    unsigned long long more = 0;
    expect_status(cuMemAlloc_v2(&more, 64), 900, "allocation during capture");
    expect_status(cuStreamEndCapture(stream, &graph), 901, "invalidated by the allocation");
    cuStreamBeginCapture_v2(stream, 1);
    expect_status(cuStreamSynchronize(stream), 900, "synchronizing a capturing stream");
    expect_status(cuStreamEndCapture(stream, &graph), 901, "invalidated by the synchronization");
    cuStreamDestroy_v2(stream);

    // The legacy stream from another thread: harmless to a non-blocking stream's capture, fatal to a blocking one's.
    for (unsigned flags : {1u, 0u})
    {
        void* s = nullptr;
        cuStreamCreate(&s, flags);
        cuStreamBeginCapture_v2(s, 1);
        int other = -1;
        std::thread([&] {
            void* context = nullptr;
            cuDevicePrimaryCtxRetain(&context, 0);
            cuCtxSetCurrent(context);
            other = cuMemcpyDtoH_v2(host.data(), y, 64);
        }).join();
        const int end = cuStreamEndCapture(s, &graph);
        if (flags == 1)
        {
            expect_status(other, 0, "legacy-stream copy from another thread while a non-blocking stream captures");
            expect_status(end, 0, "the non-blocking stream's capture survives");
        }
        else
        {
            expect_status(other, 906, "legacy-stream copy from another thread while a blocking stream captures");
            expect_status(end, 901, "the blocking stream's capture is invalidated");
        }
        cuStreamDestroy_v2(s);
    }
    cuMemFree_v2(y);
}
// A block of 64 threads: each writes its slot of shared memory, then reads its neighbour's. Without the barrier the
// read sees the neighbour's write only if the neighbour happened to run first: the answer depends on the thread order.
__shared__ float g_slots[64];

void neighbour_kernel(float* out, int barrier)
{
    g_slots[threadIdx.x] = float(threadIdx.x + 1);
    if (barrier != 0) __syncthreads();
    out[threadIdx.x] = g_slots[(threadIdx.x + 1) % 64];
}

void divergent_kernel(float* out)
{
    if (threadIdx.x < 32) __syncthreads();
    out[threadIdx.x] = 1.0f;
}

struct NeighbourLaunch final : fg_standin::PreparedLaunch
{
    float* out = nullptr;
    int barrier = 0;
    void run_thread() override { neighbour_kernel(out, barrier); }
};

struct DivergentLaunch final : fg_standin::PreparedLaunch
{
    float* out = nullptr;
    void run_thread() override { divergent_kernel(out); }
};

std::vector<float> neighbours(int barrier, uint64_t seed)
{
    std::vector<float> out(64, -1.0f);
    for (float& slot : g_slots) slot = 0.0f;  // shared memory starts undefined; here, zeros
    NeighbourLaunch launch;
    launch.out = out.data();
    launch.barrier = barrier;
    const fg_standin::KernelInfo info{"neighbour_kernel", 0, 2, nullptr};
    fg_standin::run_grid(info, launch, fg_standin::Dim{1, 1, 1}, fg_standin::Dim{64, 1, 1}, seed);
    return out;
}

void scheduler_cases()
{
    std::vector<float> expected(64);
    for (int t = 0; t < 64; ++t) expected[size_t(t)] = float((t + 1) % 64 + 1);
    for (uint64_t seed : {1ull, 2ull, 3ull}) expect_values(neighbours(1, seed), expected, "with the barrier, every thread order gives the answer");
    int differing = 0;
    const std::vector<float> first = neighbours(0, 1);
    for (uint64_t seed = 2; seed < 6; ++seed) differing += neighbours(0, seed) != first ? 1 : 0;
    check(first != expected && differing > 0, "without the barrier the answer is wrong and changes with the seed");

    std::vector<float> out(64);
    DivergentLaunch launch;
    launch.out = out.data();
    const fg_standin::KernelInfo info{"divergent_kernel", 0, 1, nullptr};
    expect_status(fg_standin::run_grid(info, launch, fg_standin::Dim{1, 1, 1}, fg_standin::Dim{64, 1, 1}, 7), 719,
                  "a barrier only half the block reaches fails the launch");
    const char* text = nullptr;
    cuGetErrorString(719, &text);
    check(text != nullptr && std::strstr(text, "divergent_kernel") != nullptr && std::strstr(text, "divergent code") != nullptr,
          std::string("the report names the kernel: ") + (text ? text : "(null)"));
}
}  // namespace

int main()
{
    void* context = nullptr;
    expect_status(cuInit(0), 0, "cuInit");
    expect_status(cuDevicePrimaryCtxRetain(&context, 0), 0, "retain");
    expect_status(cuCtxSetCurrent(context), 0, "set current");
    void* module = nullptr;
    expect_status(cuModuleLoadData(&module, "not an image"), 200, "a bad image");
    expect_status(cuModuleLoadData(&module, "FGSTANDIN"), 0, "the stand-in image");
    gemm_cases();
    conv_cases();
    launch_cases(module);
    capture_cases(module);
    scheduler_cases();
    std::printf("standin_tests: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
