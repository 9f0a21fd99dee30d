# SPDX-License-Identifier: MIT
# cmake --install: headers (with the generated sanport/version.h), the static archive, the
# shared library when SANPORT_BUILD_SHARED is on, the porting kit and sanport-suite,
# sanportConfig.cmake (targets sanport::sanport, sanport::static, sanport::shared,
# sanport::porting, sanport::sanport_suite), sanport.pc, and LICENSE and CHANGELOG.md.
include(CMakePackageConfigHelpers)

set(sanport_installed_targets sanport sanport_porting sanport_suite)
if(TARGET sanport_shared)
  list(APPEND sanport_installed_targets sanport_shared)
endif()

# cmake --install never builds. A build folder where only some targets were built (the demo
# preset builds the samples alone) would stop half-way with "file INSTALL cannot find"; say
# instead, before anything is copied, what is missing and what to run.
set(sanport_install_files "")
foreach(t IN LISTS sanport_installed_targets)
  list(APPEND sanport_install_files "$<TARGET_FILE:${t}>")
endforeach()
install(CODE "set(sanport_install_files \"${sanport_install_files}\")
set(sanport_install_targets \"${sanport_installed_targets}\")
set(sanport_build_dir \"${PROJECT_BINARY_DIR}\")")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/install_check.cmake)

install(TARGETS ${sanport_installed_targets} EXPORT sanportTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/compat/include/sanport ${PROJECT_SOURCE_DIR}/core/include/sanport
                  ${PROJECT_SOURCE_DIR}/porting/include/sanport
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/sanport/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sanport)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/CHANGELOG.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(EXPORT sanportTargets NAMESPACE sanport::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sanport)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sanportConfig.cmake.in
        ${PROJECT_BINARY_DIR}/sanportConfig.cmake
        INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sanport)
# 0.x: minor versions may break, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sanportConfigVersion.cmake
        COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sanportConfig.cmake ${PROJECT_BINARY_DIR}/sanportConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sanport)

# sanport.pc. -lsanport names libsanport.so when the install has it (the linker prefers it),
# else libsanport.a:
#  - static-only install: what the archive needs is in Requires/Libs, so plain
#    `pkg-config --libs sanport` links;
#  - shared install: the .so carries its own dependencies, so they are only in the private
#    fields, which `pkg-config --static --libs sanport` adds for linking the archive. The
#    linker still takes the .so for -lsanport unless the link is static: wrap the flags in
#    -Wl,-Bstatic ... -Wl,-Bdynamic (or link with -static). README, "Building by hand".
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(sanport_pc_requires "liburing >= 2.3")
  set(sanport_pc_libs "-pthread")
else()
  set(sanport_pc_requires "")
  set(sanport_pc_libs "-lws2_32 -lmswsock")
endif()
if(TARGET sanport_shared)
  set(SANPORT_PC_REQUIRES "")
  set(SANPORT_PC_REQUIRES_PRIVATE "${sanport_pc_requires}")
  set(SANPORT_PC_LIBS "")
  set(SANPORT_PC_LIBS_PRIVATE "${sanport_pc_libs}")
else()
  set(SANPORT_PC_REQUIRES "${sanport_pc_requires}")
  set(SANPORT_PC_REQUIRES_PRIVATE "")
  set(SANPORT_PC_LIBS " ${sanport_pc_libs}")
  set(SANPORT_PC_LIBS_PRIVATE "")
endif()
# Relocatable: the prefix is found from the .pc file's own place, so `--prefix` works.
file(RELATIVE_PATH SANPORT_PC_PREFIX_FROM_PCFILEDIR "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" SANPORT_PC_PREFIX_FROM_PCFILEDIR "${SANPORT_PC_PREFIX_FROM_PCFILEDIR}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/sanport.pc.in ${PROJECT_BINARY_DIR}/sanport.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sanport.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
