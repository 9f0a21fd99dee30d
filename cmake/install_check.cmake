# SPDX-License-Identifier: MIT
# Runs first in `cmake --install` (cmake/install.cmake sets the three variables): every file the
# install copies from the build must exist, else stop before copying anything and say what to
# build. cmake --install never builds, and a folder where only some targets were built (the
# demo builds the samples alone) would otherwise stop half-way with "file INSTALL cannot find".
set(missing "")
foreach(f IN LISTS sanport_install_files)
  if(NOT EXISTS "${f}")
    string(APPEND missing "\n  ${f}")
  endif()
endforeach()
if(missing)
  string(REPLACE ";" " " targets "${sanport_install_targets}")
  message(FATAL_ERROR "sanport: cannot install, not built yet:${missing}\n"
    "Build what the install copies first, then install again:\n"
    "  cmake --build \"${sanport_build_dir}\" --target ${targets}\n"
    "or build the whole folder: cmake --build \"${sanport_build_dir}\"")
endif()
