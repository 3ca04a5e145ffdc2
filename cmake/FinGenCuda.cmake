# Finds nvcc and decides the CUDA architectures. The kernels and the fatbin rule arrive with the CUDA
# backend; until then this only reports whether a CUDA toolchain is present.
#
# FINGEN_CUDA_ARCHITECTURES overrides the default list (sm_80 and sm_90 cubins plus compute_90 PTX).
# nvcc 11.8 rejects g++ 12: point CUDAHOSTCXX at g++-11 (check_language ignores -D flags).
include(CheckLanguage)
check_language(CUDA)

set(FINGEN_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING "CUDA architectures of the kernel fatbin")

if(CMAKE_CUDA_COMPILER)
  enable_language(CUDA)
  set(FINGEN_HAVE_CUDA ON)
  message(STATUS "FinGen: CUDA ${CMAKE_CUDA_COMPILER_VERSION} found at ${CMAKE_CUDA_COMPILER}; architectures ${FINGEN_CUDA_ARCHITECTURES}")
else()
  set(FINGEN_HAVE_CUDA OFF)
  message(STATUS "FinGen: no CUDA compiler found; the kernels are not built (the CPU backends need none)")
endif()
