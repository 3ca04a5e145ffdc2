# Finds nvcc, decides the CUDA architectures and defines the rule that compiles kernels/*.cu into ONE
# fatbin, build/kernels/fingen_kernels.fatbin, that src/FinGen.Native.Cuda embeds and loads with
# cuModuleLoadData; plus kernels/tests/host_test.cu, the host-side test of the shared maths, and
# build/kernels/libfingen_nvtx.so, NVTX's C API built from the toolkit's headers (kernels/nvtx/).
#
# FINGEN_CUDA_ARCHITECTURES overrides the default list (sm_80 and sm_90 cubins plus compute_90 PTX), in
# CMake's notation: "NN-real" is a cubin, "NN-virtual" PTX, a bare "NN" both; suffixed names such as
# "90a-real" pass through to nvcc as sm_90a.
# nvcc 11.8 rejects g++ 12: point CUDAHOSTCXX at g++-11 (check_language ignores -D flags).
#
# Why one translation unit: a fatbin holds one cubin per architecture, and nvcc -fatbin compiles one
# translation unit into it; kernels spread over several .cu files could only be combined by relocatable
# device code plus a device-link step (-rdc, nvcc -dlink -fatbin), which costs cross-file optimization and
# adds a build stage for nothing, since every kernel is self-contained. So the configure step writes
# build/kernels/all_kernels.cu, which #includes every kernels/*.cu, and one nvcc call turns it into the
# fatbin. Every .cu still compiles on its own (each includes common.cuh, which has #pragma once).
#
# The nvcc call runs through this same file in CMake script mode (cmake -P, the branch just below), which
# captures nvcc's output to write the ptxas -v resource report, build/kernels/ptxas-report.txt (registers,
# shared memory, spills per kernel and architecture), echoes warnings, and fails the build on any error
# (or on any warning, with -DFINGEN_CUDA_WERROR=ON).

# ---- script mode: compile the fatbin and write the ptxas report
if(CMAKE_SCRIPT_MODE_FILE AND FINGEN_FATBIN_COMMAND_FILE)
  include("${FINGEN_FATBIN_COMMAND_FILE}")  # sets FINGEN_NVCC_COMMAND, FINGEN_FATBIN_OUTPUT, FINGEN_PTXAS_REPORT, FINGEN_WERROR
  execute_process(COMMAND ${FINGEN_NVCC_COMMAND}
                  RESULT_VARIABLE nvcc_result
                  OUTPUT_VARIABLE nvcc_output
                  ERROR_VARIABLE nvcc_output)

  # Summary table: one row per (kernel, architecture), from ptxas's "Compiling entry function 'k' for
  # 'sm_NN'", "N bytes stack frame, N bytes spill stores, N bytes spill loads" and "Used N registers,
  # N bytes smem" lines, which come in that order for each entry function.
  string(REPLACE ";" "," nvcc_text "${nvcc_output}")
  string(REPLACE "\n" ";" nvcc_lines "${nvcc_text}")
  set(rows "")
  set(kernel "")
  set(warnings "")
  foreach(line IN LISTS nvcc_lines)
    if(line MATCHES "[Ww]arning")
      list(APPEND warnings "${line}")
    endif()
    if(line MATCHES "Compiling entry function '([^']+)' for '([^']+)'")
      set(kernel "${CMAKE_MATCH_1}")
      set(arch "${CMAKE_MATCH_2}")
      set(stack "?")
      set(spill_stores "?")
      set(spill_loads "?")
    elseif(kernel AND line MATCHES "([0-9]+) bytes stack frame, ([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads")
      set(stack "${CMAKE_MATCH_1}")
      set(spill_stores "${CMAKE_MATCH_2}")
      set(spill_loads "${CMAKE_MATCH_3}")
    elseif(kernel AND line MATCHES "Used ([0-9]+) registers")
      set(registers "${CMAKE_MATCH_1}")
      set(smem "0")
      if(line MATCHES "([0-9]+) bytes smem")
        set(smem "${CMAKE_MATCH_1}")
      endif()
      string(LENGTH "${kernel}" kernel_length)
      math(EXPR pad "28 - ${kernel_length}")
      if(pad LESS 1)
        set(pad 1)
      endif()
      string(REPEAT " " ${pad} padding)
      list(APPEND rows "${kernel}${padding}${arch}    ${registers}\t${smem}\t${stack}\t${spill_stores}\t${spill_loads}")
      set(kernel "")
    endif()
  endforeach()
  string(REPLACE ";" "\n" table "${rows}")
  file(WRITE "${FINGEN_PTXAS_REPORT}"
       "# ptxas resource usage of fingen_kernels.fatbin (nvcc -Xptxas -v)\n"
       "# kernel                    arch     regs\tsmem B\tstack B\tspill st B\tspill ld B\n"
       "${table}\n\n# raw compiler output\n${nvcc_output}")

  if(warnings)
    string(REPLACE ";" "\n" warning_text "${warnings}")
    message(WARNING "FinGen: nvcc reported warnings while building the kernel fatbin:\n${warning_text}")
  endif()
  if(NOT nvcc_result EQUAL 0 OR (warnings AND FINGEN_WERROR))
    file(REMOVE "${FINGEN_FATBIN_OUTPUT}")  # a failed build must not leave a fatbin that looks up to date
  endif()
  if(NOT nvcc_result EQUAL 0)
    message(FATAL_ERROR "FinGen: nvcc failed (${nvcc_result}) building the kernel fatbin:\n${nvcc_output}")
  endif()
  if(warnings AND FINGEN_WERROR)
    message(FATAL_ERROR "FinGen: FINGEN_CUDA_WERROR is on and nvcc reported warnings")
  endif()
  return()
endif()

# ---- configure mode
include(CheckLanguage)
check_language(CUDA)

set(FINGEN_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING "CUDA architectures of the kernel fatbin")
option(FINGEN_CUDA_WERROR "Fail the kernel build on any nvcc/ptxas warning" OFF)
option(FINGEN_CUDA_LINEINFO "Embed line information in the kernels (for Nsight Compute)" OFF)

if(CMAKE_CUDA_COMPILER)
  enable_language(CUDA)
  set(FINGEN_HAVE_CUDA ON)
  message(STATUS "FinGen: CUDA ${CMAKE_CUDA_COMPILER_VERSION} found at ${CMAKE_CUDA_COMPILER}; architectures ${FINGEN_CUDA_ARCHITECTURES}")
else()
  set(FINGEN_HAVE_CUDA OFF)
  find_program(FINGEN_NVCC_PROBE nvcc PATHS /usr/local/cuda/bin NO_CACHE)
  if(FINGEN_NVCC_PROBE)
    message(STATUS "FinGen: nvcc found at ${FINGEN_NVCC_PROBE}, but CMake could not use it (nvcc 11.8 rejects "
                   "g++ 12: export CUDAHOSTCXX=g++-11 and reconfigure in a fresh build folder); the kernels are not built")
  else()
    message(STATUS "FinGen: no CUDA compiler found; the kernels are not built (the CPU backends need none)")
  endif()
endif()

# The nvcc -gencode flags of a CMake architecture list.
function(fingen_gencode_flags out_var)
  set(flags "")
  foreach(entry IN LISTS ARGN)
    if(entry MATCHES "^([0-9]+[a-z]?)-real$")
      list(APPEND flags "-gencode=arch=compute_${CMAKE_MATCH_1},code=sm_${CMAKE_MATCH_1}")
    elseif(entry MATCHES "^([0-9]+[a-z]?)-virtual$")
      list(APPEND flags "-gencode=arch=compute_${CMAKE_MATCH_1},code=compute_${CMAKE_MATCH_1}")
    elseif(entry MATCHES "^([0-9]+[a-z]?)$")
      list(APPEND flags "-gencode=arch=compute_${CMAKE_MATCH_1},code=[sm_${CMAKE_MATCH_1},compute_${CMAKE_MATCH_1}]")
    else()
      message(FATAL_ERROR "FinGen: FINGEN_CUDA_ARCHITECTURES entry '${entry}' is not NN, NN-real or NN-virtual")
    endif()
  endforeach()
  set(${out_var} "${flags}" PARENT_SCOPE)
endfunction()

# Adds the fatbin target (fingen_kernels, part of ALL) and the host test (fingen_kernels_host_test).
function(fingen_add_cuda_kernels kernels_dir)
  file(GLOB kernel_sources CONFIGURE_DEPENDS "${kernels_dir}/*.cu")
  file(GLOB kernel_headers CONFIGURE_DEPENDS "${kernels_dir}/*.cuh")
  list(SORT kernel_sources)
  if(NOT kernel_sources)
    message(FATAL_ERROR "FinGen: no kernels/*.cu found in ${kernels_dir}")
  endif()

  set(out_dir "${CMAKE_BINARY_DIR}/kernels")
  set(fatbin "${out_dir}/fingen_kernels.fatbin")
  set(report "${out_dir}/ptxas-report.txt")
  set(unity "${out_dir}/all_kernels.cu")
  file(MAKE_DIRECTORY "${out_dir}")

  set(unity_text "// Generated by cmake/FinGenCuda.cmake: every kernels/*.cu in one translation unit, so that one\n// nvcc -fatbin call produces one cubin per architecture holding every kernel. Do not edit.\n")
  foreach(source IN LISTS kernel_sources)
    string(APPEND unity_text "#include \"${source}\"\n")
  endforeach()
  file(CONFIGURE OUTPUT "${unity}" CONTENT "${unity_text}" @ONLY)  # rewritten only when it changes

  fingen_gencode_flags(gencode ${FINGEN_CUDA_ARCHITECTURES})
  # -fmad=false: no a·b + c contraction, so float results follow the CPU reference's rounding step by step
  # (the kernels are memory-bound; the FMA saves nothing measurable). Precise division and sqrt are
  # nvcc's defaults and stay on.
  set(command "${CMAKE_CUDA_COMPILER}" -fatbin -std=c++17 -O3 -fmad=false
              "-I${kernels_dir}" -Xptxas=-v -Xptxas=-warn-spills ${gencode})
  if(CMAKE_CUDA_HOST_COMPILER)
    list(APPEND command "-ccbin=${CMAKE_CUDA_HOST_COMPILER}")
  endif()
  if(FINGEN_CUDA_LINEINFO)
    list(APPEND command -lineinfo)
  endif()
  list(APPEND command -o "${fatbin}" "${unity}")

  set(command_file "${out_dir}/fatbin-command.cmake")
  set(command_text "# Generated by cmake/FinGenCuda.cmake.\nset(FINGEN_NVCC_COMMAND")
  foreach(arg IN LISTS command)
    string(APPEND command_text " [==[${arg}]==]")
  endforeach()
  string(APPEND command_text ")\nset(FINGEN_FATBIN_OUTPUT [==[${fatbin}]==])\nset(FINGEN_PTXAS_REPORT [==[${report}]==])\nset(FINGEN_WERROR ${FINGEN_CUDA_WERROR})\n")
  file(CONFIGURE OUTPUT "${command_file}" CONTENT "${command_text}" @ONLY)

  add_custom_command(
    OUTPUT "${fatbin}" "${report}"
    COMMAND "${CMAKE_COMMAND}" "-DFINGEN_FATBIN_COMMAND_FILE=${command_file}" -P "${CMAKE_CURRENT_FUNCTION_LIST_FILE}"
    DEPENDS ${kernel_sources} ${kernel_headers} "${unity}" "${command_file}" "${CMAKE_CURRENT_FUNCTION_LIST_FILE}"
    COMMENT "nvcc: kernels/*.cu -> kernels/fingen_kernels.fatbin (${FINGEN_CUDA_ARCHITECTURES})"
    VERBATIM)
  add_custom_target(fingen_kernels ALL DEPENDS "${fatbin}" "${report}")
  set(FINGEN_KERNELS_FATBIN "${fatbin}" PARENT_SCOPE)

  # The host test: common.cuh's __host__ __device__ maths (Philox, Box–Muller) compiled for the CPU. A
  # plain nvcc call like the fatbin's rather than add_executable, so that no CMake CUDA-architecture or
  # dialect logic (which differs between CMake and CUDA versions) can get in the way; nvcc's default
  # device target is used for the kernel in philox.cu that it also compiles, and nothing is launched.
  set(host_test "${out_dir}/fingen_kernels_host_test")
  set(host_test_command "${CMAKE_CUDA_COMPILER}" -std=c++17 -O2 -fmad=false "-I${kernels_dir}")
  if(CMAKE_CUDA_HOST_COMPILER)
    list(APPEND host_test_command "-ccbin=${CMAKE_CUDA_HOST_COMPILER}")
  endif()
  list(APPEND host_test_command -o "${host_test}" "${kernels_dir}/tests/host_test.cu")
  add_custom_command(
    OUTPUT "${host_test}"
    COMMAND ${host_test_command}
    DEPENDS "${kernels_dir}/tests/host_test.cu" ${kernel_sources} ${kernel_headers}
    COMMENT "nvcc: kernels/tests/host_test.cu -> kernels/fingen_kernels_host_test"
    VERBATIM)
  add_custom_target(fingen_kernels_host_test ALL DEPENDS "${host_test}")
  add_test(NAME fingen_kernels_host_test COMMAND "${host_test}")

  # libfingen_nvtx.so: NVTX's C API from the toolkit's NVTX 3 headers (see kernels/nvtx/fingen_nvtx.cpp), for CUDA 13,
  # which has no libnvToolsExt.so.1. Host code only, no CUDA runtime; FinGen.Native.Cuda copies it next to the app.
  # Optional: a toolkit without the headers still builds the kernels, and profiles then need libnvToolsExt for ranges.
  find_path(FINGEN_NVTX3_INCLUDE_DIR nvtx3/nvToolsExt.h HINTS ${CMAKE_CUDA_TOOLKIT_INCLUDE_DIRECTORIES} NO_CACHE)
  if(WIN32 OR NOT FINGEN_NVTX3_INCLUDE_DIR)
    message(STATUS "FinGen: no NVTX 3 headers (nvtx3/nvToolsExt.h) found; libfingen_nvtx.so is not built")
  else()
    set(nvtx_shim "${out_dir}/libfingen_nvtx.so")
    set(nvtx_command "${CMAKE_CUDA_COMPILER}" -shared -cudart=none -O2 -Xcompiler=-fPIC "-I${FINGEN_NVTX3_INCLUDE_DIR}")
    if(CMAKE_CUDA_HOST_COMPILER)
      list(APPEND nvtx_command "-ccbin=${CMAKE_CUDA_HOST_COMPILER}")
    endif()
    list(APPEND nvtx_command -o "${nvtx_shim}" "${kernels_dir}/nvtx/fingen_nvtx.cpp" -ldl)
    add_custom_command(
      OUTPUT "${nvtx_shim}"
      COMMAND ${nvtx_command}
      DEPENDS "${kernels_dir}/nvtx/fingen_nvtx.cpp"
      COMMENT "nvcc: kernels/nvtx/fingen_nvtx.cpp -> kernels/libfingen_nvtx.so"
      VERBATIM)
    add_custom_target(fingen_nvtx ALL DEPENDS "${nvtx_shim}")
  endif()
endfunction()
