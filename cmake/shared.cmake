# SPDX-License-Identifier: MIT
# libsanport.so: the static archive's objects, compiled once (position-independent), linked
# again into a shared library.
#
# Exported: what the public headers declare, and nothing of sanport::detail — the symbol list
# is cmake/sanport.map (a linker version script; `nm -D --defined-only -C libsanport.so` shows
# it, and scripts/check-package.sh checks it). Version script rather than hidden visibility:
# it needs no mark on any declaration, and what is exported is one reviewable file.
# The porting kit (sanport::porting) links the static archive: it uses sanport::detail.
#
# ABI: SOVERSION is 0.MINOR while the version is 0.x, because a 0.x minor release may change
# the ABI (find_package accepts only the same minor version too); from 1.0 on it is MAJOR.
if(WIN32)
  message(FATAL_ERROR "SANPORT_BUILD_SHARED: sanport is static-only on Windows (no export "
                      "marks on its declarations); configure with -DSANPORT_BUILD_SHARED=OFF")
endif()
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(sanport_soversion ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(sanport_soversion ${PROJECT_VERSION_MAJOR})
endif()

add_library(sanport_shared SHARED $<TARGET_OBJECTS:sanport>)
add_library(sanport::shared ALIAS sanport_shared)
set_target_properties(sanport_shared PROPERTIES
  OUTPUT_NAME sanport
  EXPORT_NAME shared
  VERSION ${PROJECT_VERSION}
  SOVERSION ${sanport_soversion}
  LINKER_LANGUAGE CXX
  LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/sanport.map)
# The archive, PRIVATE, for its link dependencies (liburing, threads), which backends/ declares
# on it: the linker takes no member from it, since the objects above already define all it
# has. None of it is part of what a user of the .so links.
target_link_libraries(sanport_shared PRIVATE sanport)
target_link_options(sanport_shared PRIVATE
  "LINKER:--version-script=${CMAKE_CURRENT_LIST_DIR}/sanport.map")
# The archive's public usage requirements, without linking the archive itself.
target_compile_features(sanport_shared PUBLIC cxx_std_20)
target_include_directories(sanport_shared PUBLIC
  $<BUILD_INTERFACE:$<TARGET_PROPERTY:sanport,INTERFACE_INCLUDE_DIRECTORIES>>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
