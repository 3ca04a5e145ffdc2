// cublas.cpp — the cuBLAS subset the bindings use (src/FinGen.Native.Cuda/Interop/Cublas.cs): handles, their stream,
// math mode and workspace, the version, and SGEMM.
//
// cublasSgemm_v2 follows the cuBLAS reference: column-major C = α·op(A)·op(B) + β·C with op(X) = X (CUBLAS_OP_N) or
// Xᵀ (CUBLAS_OP_T, CUBLAS_OP_C for real data); A is m×k after op, B is k×n, C is m×n; lda ≥ max(1, rows of A as
// stored), likewise ldb and ldc ≥ max(1, m); α and β are host pointers (the default pointer mode), read at the
// call; when β = 0, C is not read (it may hold NaN). Each element is summed in float over l = 0 … k−1 in order.
// CUBLAS_TF32_TENSOR_OP_MATH rounds A's and B's elements to TF32 (10-bit mantissa, nearest even) first, as tensor
// cores would, so a test that holds fp32 tolerances notices when TF32 is on.
//
// Beyond cuBLAS's own checks, the stand-in refuses matrices that are not inside live device memory (host pointers,
// extents past an allocation's end) with CUBLAS_STATUS_INVALID_VALUE, the detail on stderr. Setting the stream resets
// the workspace to cuBLAS's own pool (as cuBLAS does); an SGEMM captured with no user workspace would allocate from
// that pool inside the capture, so the stand-in invalidates the capture and fails it with CUBLAS_STATUS_NOT_SUPPORTED.
#include <algorithm>
#include <cstdint>
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

enum : int
{
    kBlasSuccess = 0,
    kBlasNotInitialized = 1,
    kBlasInvalidValue = 7,
    kBlasNotSupported = 15,
};

struct Handle
{
    void* stream = nullptr;
    int math = 0;
    uintptr_t workspace = 0;
    size_t workspace_bytes = 0;
};

std::mutex g_mutex;
std::map<void*, std::unique_ptr<Handle>>& handles()
{
    static auto* h = new std::map<void*, std::unique_ptr<Handle>>();
    return *h;
}

Handle* find(void* handle)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = handles().find(handle);
    return it == handles().end() ? nullptr : it->second.get();
}

float tf32(float x)
{
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    if ((bits & 0x7F800000u) != 0x7F800000u)  // finite: round the low 13 mantissa bits away, to nearest even
    {
        bits += 0xFFFu + ((bits >> 13) & 1u);
        bits &= ~0x1FFFu;
    }
    std::memcpy(&x, &bits, 4);
    return x;
}

int matrix_check(const char* name, const float* p, int rows, int cols, int ld)
{
    if (rows == 0 || cols == 0) return kBlasSuccess;
    const size_t elements = size_t(cols - 1) * size_t(ld) + size_t(rows);
    std::string problem = device_range_problem(reinterpret_cast<uintptr_t>(p), elements * sizeof(float));
    if (problem.empty()) return kBlasSuccess;
    fail(kErrorInvalidValue, std::string("cublasSgemm_v2: matrix ") + name + " (" + std::to_string(rows) + "x" + std::to_string(cols) +
                                 ", ld " + std::to_string(ld) + "): " + problem);
    return kBlasInvalidValue;
}

void sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta, float* c,
           int ldc, bool round_tf32)
{
    auto A = [&](int i, int l) { float v = ta ? a[l + size_t(i) * lda] : a[i + size_t(l) * lda]; return round_tf32 ? tf32(v) : v; };
    auto B = [&](int l, int j) { float v = tb ? b[j + size_t(l) * ldb] : b[l + size_t(j) * ldb]; return round_tf32 ? tf32(v) : v; };
    std::vector<float> column(static_cast<size_t>(m));
    for (int j = 0; j < n; ++j)
    {
        std::fill(column.begin(), column.end(), 0.0f);
        if (!ta)
        {
            // Column of C as a sum of A's columns: each element still sums l = 0 … k−1 in order.
            for (int l = 0; l < k; ++l)
            {
                const float blj = B(l, j);
                for (int i = 0; i < m; ++i) column[size_t(i)] += A(i, l) * blj;
            }
        }
        else
        {
            for (int i = 0; i < m; ++i)
            {
                float sum = 0.0f;
                for (int l = 0; l < k; ++l) sum += A(i, l) * B(l, j);
                column[size_t(i)] = sum;
            }
        }
        float* cj = c + size_t(j) * ldc;
        for (int i = 0; i < m; ++i) cj[i] = beta == 0.0f ? alpha * column[size_t(i)] : alpha * column[size_t(i)] + beta * cj[i];
    }
}
}  // namespace

extern "C" {

int cublasCreate_v2(void** handle)
{
    if (handle == nullptr) return kBlasInvalidValue;
    if (!initialized() || !context_current()) return kBlasNotInitialized;
    auto h = std::make_unique<Handle>();
    std::lock_guard<std::mutex> lock(g_mutex);
    *handle = h.get();
    handles()[h.get()] = std::move(h);
    return kBlasSuccess;
}

int cublasDestroy_v2(void* handle)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    return handles().erase(handle) == 1 ? kBlasSuccess : kBlasNotInitialized;
}

int cublasSetStream_v2(void* handle, void* stream)
{
    Handle* h = find(handle);
    if (h == nullptr) return kBlasNotInitialized;
    int status;
    resolve_stream(stream, &status);
    if (status != kSuccess) return kBlasInvalidValue;
    h->stream = stream;
    h->workspace = 0;  // back to cuBLAS's own pool
    h->workspace_bytes = 0;
    return kBlasSuccess;
}

int cublasSetMathMode(void* handle, int mode)
{
    Handle* h = find(handle);
    if (h == nullptr) return kBlasNotInitialized;
    const int base = mode & 0xF;  // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION (16) may be or-ed in
    if ((mode & ~0x1F) != 0 || (base != 0 && base != 1 && base != 2 && base != 3)) return kBlasInvalidValue;
    h->math = base;
    return kBlasSuccess;
}

int cublasGetVersion_v2(void* handle, int* version)
{
    if (find(handle) == nullptr) return kBlasNotInitialized;
    if (version == nullptr) return kBlasInvalidValue;
    *version = 130000;
    return kBlasSuccess;
}

int cublasSetWorkspace_v2(void* handle, void* workspace, size_t bytes)
{
    Handle* h = find(handle);
    if (h == nullptr) return kBlasNotInitialized;
    if (bytes > 0)
    {
        std::string problem = device_range_problem(reinterpret_cast<uintptr_t>(workspace), bytes);
        if (!problem.empty())
        {
            fail(kErrorInvalidValue, "cublasSetWorkspace_v2: " + problem);
            return kBlasInvalidValue;
        }
        if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return kBlasInvalidValue;
    }
    h->workspace = reinterpret_cast<uintptr_t>(workspace);
    h->workspace_bytes = bytes;
    return kBlasSuccess;
}

int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* a, int lda,
                   const float* b, int ldb, const float* beta, float* c, int ldc)
{
    Handle* h = find(handle);
    if (h == nullptr) return kBlasNotInitialized;
    if (transa < 0 || transa > 2 || transb < 0 || transb > 2 || m < 0 || n < 0 || k < 0) return kBlasInvalidValue;
    const bool ta = transa != 0, tb = transb != 0;
    auto at_least = [](int x) { return x < 1 ? 1 : x; };
    if (lda < at_least(ta ? k : m) || ldb < at_least(tb ? n : k) || ldc < at_least(m)) return kBlasInvalidValue;
    if (alpha == nullptr || beta == nullptr) return kBlasInvalidValue;
    if (m == 0 || n == 0) return kBlasSuccess;
    const float alpha_value = *alpha, beta_value = *beta;
    if (k > 0 && alpha_value != 0.0f)
    {
        if (int s = matrix_check("A", a, ta ? k : m, ta ? m : k, lda); s != kBlasSuccess) return s;
        if (int s = matrix_check("B", b, tb ? n : k, tb ? k : n, ldb); s != kBlasSuccess) return s;
    }
    if (int s = matrix_check("C", c, m, n, ldc); s != kBlasSuccess) return s;
    int status;
    Stream* stream = resolve_stream(h->stream, &status);
    if (status != kSuccess) return kBlasInvalidValue;
    if (capturing(stream) && h->workspace_bytes == 0)
    {
        check_unsafe_during_capture("cublasSgemm_v2 (no workspace set: it would allocate from cuBLAS's pool)");
        return kBlasNotSupported;
    }
    const bool round = h->math == 3;
    const int kk = alpha_value == 0.0f ? 0 : k;
    const uintptr_t workspace = h->workspace;
    return submit(stream, Task{"cublasSgemm_v2", [=] {
        note_user(reinterpret_cast<uintptr_t>(c), "cublasSgemm_v2");
        if (workspace != 0) note_user(workspace, "cublasSgemm_v2");
        sgemm(ta, tb, m, n, kk, alpha_value, a, lda, b, ldb, beta_value, c, ldc, round);
        return int(kSuccess);
    }}) == kSuccess
               ? kBlasSuccess
               : kBlasNotSupported;
}

}  // extern "C"
