# SPDX-License-Identifier: MIT
# cmake --install: headers (with the generated sanport/version.h), the static archive, the
# shared library when SANPORT_BUILD_SHARED is on, the porting kit and sanport-suite,
# sanportConfig.cmake (targets sanport::sanport, sanport::static, sanport::shared,
# sanport::porting, sanport::sanport_suite), sanport.pc and sanport-static.pc, and LICENSE and
# CHANGELOG.md.
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
# sanport::asio: a header and an interface target, no file of its own to check above.
if(TARGET sanport_asio)
  install(TARGETS sanport_asio EXPORT sanportTargets)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/asio/include/sanport DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()
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

# Two pkg-config files (README, "Building by hand"):
#  - sanport.pc: -lsanport, which names libsanport.so when the install has it (the linker
#    prefers it), else libsanport.a. Static-only install: what the archive needs is in
#    Requires/Libs, so plain `pkg-config --libs sanport` links. Shared install: the .so
#    carries its own dependencies, so they are only in the private fields, which
#    `pkg-config --static --libs sanport` adds; the linker still takes the .so for -lsanport
#    unless the flags are wrapped in -Wl,-Bstatic ... -Wl,-Bdynamic (or the link is -static).
#  - sanport-static.pc, in every install: the archive named by its path, with what it needs in
#    Requires/Libs, so `pkg-config --libs sanport-static` links the archive with no linker
#    option, beside a libsanport.so or not.
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
set(SANPORT_PC_STATIC_REQUIRES "${sanport_pc_requires}")
set(SANPORT_PC_STATIC_LIBS "${sanport_pc_libs}")
# The archive's file name comes from the target (a generator expression, hence the second step).
configure_file(${CMAKE_CURRENT_LIST_DIR}/sanport-static.pc.in
               ${PROJECT_BINARY_DIR}/sanport-static.pc.in @ONLY)
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/sanport-static.pc
     INPUT ${PROJECT_BINARY_DIR}/sanport-static.pc.in)
install(FILES ${PROJECT_BINARY_DIR}/sanport.pc ${PROJECT_BINARY_DIR}/sanport-static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
