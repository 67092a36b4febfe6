# SPDX-License-Identifier: Apache-2.0
# Included (optionally) by accel/CMakeLists.txt after specmamba_accel exists.
#
# 1. XRT, the host runtime of the `xrt` backend (accel/xrt). XRT ships no CMake
#    config and Debian's xrt.pc is broken (doubled prefix), so it is found by
#    hand: the header xrt/xrt_device.h (include dir /usr/include/xrt on Debian,
#    $XILINX_XRT/include upstream), the library xrt_coreutil, plus libuuid
#    (xrt_uuid.h calls it inline). Without XRT the backend still compiles (its
#    sources are guarded by SPECMAMBA_HAVE_XRT) and opening it says so.
# 2. SPECMAMBA_XCLBIN (default OFF): build build/specmamba.xclbin from the HLS
#    kernels in accel/hls with AMD Vitis' v++ (docs/xrt.md).

set(_sm_xrt_hints /usr/include/xrt)
if(DEFINED ENV{XILINX_XRT})
  list(PREPEND _sm_xrt_hints "$ENV{XILINX_XRT}/include")
endif()
find_path(SPECMAMBA_XRT_INCLUDE_DIR NAMES xrt/xrt_device.h HINTS ${_sm_xrt_hints}
          DOC "XRT include directory (holds xrt/xrt_device.h)")
set(_sm_xrt_lib_hints)
if(DEFINED ENV{XILINX_XRT})
  list(APPEND _sm_xrt_lib_hints "$ENV{XILINX_XRT}/lib")
endif()
find_library(SPECMAMBA_XRT_COREUTIL_LIBRARY NAMES xrt_coreutil HINTS ${_sm_xrt_lib_hints}
             DOC "XRT native API library (libxrt_coreutil)")
find_library(SPECMAMBA_UUID_LIBRARY NAMES uuid DOC "libuuid (used inline by XRT's xrt_uuid.h)")
find_path(SPECMAMBA_UUID_INCLUDE_DIR NAMES uuid/uuid.h)

if(SPECMAMBA_XRT_INCLUDE_DIR AND SPECMAMBA_XRT_COREUTIL_LIBRARY AND SPECMAMBA_UUID_LIBRARY
   AND SPECMAMBA_UUID_INCLUDE_DIR)
  message(STATUS "XRT found: ${SPECMAMBA_XRT_INCLUDE_DIR}, ${SPECMAMBA_XRT_COREUTIL_LIBRARY} (xrt backend enabled)")
  target_compile_definitions(specmamba_accel PUBLIC SPECMAMBA_HAVE_XRT=1)
  # PRIVATE and SYSTEM: /usr/include/xrt holds generic names (types.h,
  # version.h) that must not shadow anything in the targets using the library.
  target_include_directories(specmamba_accel SYSTEM PRIVATE ${SPECMAMBA_XRT_INCLUDE_DIR})
  target_link_libraries(specmamba_accel PRIVATE ${SPECMAMBA_XRT_COREUTIL_LIBRARY} ${SPECMAMBA_UUID_LIBRARY})
else()
  message(STATUS "XRT not found (install libxrt-dev and uuid-dev): the xrt backend is built without XRT "
                 "support and reports that when opened")
endif()

# ------------------------------------------------------------- the xclbin (v++)
option(SPECMAMBA_XCLBIN "Build build/specmamba.xclbin from accel/hls with v++ (needs AMD Vitis)" OFF)
set(SPECMAMBA_PLATFORM "xilinx_u280_gen3x16_xdma_1_202211_1" CACHE STRING
    "Vitis platform (.xpfm name or path) the xclbin is built for (v++ --platform)")
set(SPECMAMBA_VPP_FLAGS "" CACHE STRING "Extra v++ flags for the compile (-c) steps, ;-separated")
set(SPECMAMBA_VPP_LINK_FLAGS "" CACHE STRING
    "Extra v++ flags for the link (-l) step, ;-separated (e.g. --connectivity.sp sm_linear_1.codes:HBM[0])")

if(SPECMAMBA_XCLBIN)
  find_program(SPECMAMBA_VPP NAMES v++ DOC "AMD Vitis compiler v++")
  if(NOT SPECMAMBA_VPP)
    message(FATAL_ERROR
      "SPECMAMBA_XCLBIN=ON needs AMD Vitis' v++, which is not on PATH. Install Vitis (2022.2 or newer) "
      "and source its settings before configuring:\n"
      "  source /tools/Xilinx/Vitis/<version>/settings64.sh\n"
      "  source /opt/xilinx/xrt/setup.sh\n"
      "and install the platform named by SPECMAMBA_PLATFORM (now '${SPECMAMBA_PLATFORM}'). "
      "Or configure with -DSPECMAMBA_XCLBIN=OFF (the default); the emu backend needs no xclbin.")
  endif()
  file(GLOB _sm_hls_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/accel/hls/*.cpp)
  set(_sm_hls_headers ${PROJECT_SOURCE_DIR}/accel/hls/top.h ${PROJECT_SOURCE_DIR}/accel/hls/hls_compat.h)
  set(_sm_xo_dir ${CMAKE_BINARY_DIR}/xclbin)
  file(MAKE_DIRECTORY ${_sm_xo_dir})  # v++ runs there (its logs and temp folders)
  set(_sm_xos)
  # One kernel object per top function of accel/hls/top.h.
  foreach(kernel sm_linear sm_conv_silu sm_ssm_pot sm_tree_ssm)
    set(_xo ${_sm_xo_dir}/${kernel}.xo)
    add_custom_command(
      OUTPUT ${_xo}
      COMMAND ${SPECMAMBA_VPP} -c -t hw --platform ${SPECMAMBA_PLATFORM} -k ${kernel}
              -I${PROJECT_SOURCE_DIR} --temp_dir ${_sm_xo_dir}/tmp_${kernel} ${SPECMAMBA_VPP_FLAGS}
              -o ${_xo} ${_sm_hls_sources}
      DEPENDS ${_sm_hls_sources} ${_sm_hls_headers}
      WORKING_DIRECTORY ${_sm_xo_dir}
      COMMENT "v++ -c: HLS kernel ${kernel} for ${SPECMAMBA_PLATFORM}"
      VERBATIM)
    list(APPEND _sm_xos ${_xo})
  endforeach()
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/specmamba.xclbin
    COMMAND ${SPECMAMBA_VPP} -l -t hw --platform ${SPECMAMBA_PLATFORM} --temp_dir ${_sm_xo_dir}/tmp_link
            ${SPECMAMBA_VPP_LINK_FLAGS} -o ${CMAKE_BINARY_DIR}/specmamba.xclbin ${_sm_xos}
    DEPENDS ${_sm_xos}
    WORKING_DIRECTORY ${_sm_xo_dir}
    COMMENT "v++ -l: linking specmamba.xclbin for ${SPECMAMBA_PLATFORM} (hours)"
    VERBATIM)
  add_custom_target(specmamba_xclbin ALL DEPENDS ${CMAKE_BINARY_DIR}/specmamba.xclbin)
endif()
