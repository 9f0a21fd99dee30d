# SPDX-License-Identifier: MIT
# cmake --install: headers, the static library, sanportConfig.cmake (target sanport::sanport,
# finding liburing again, since a static archive's users link it) and sanport.pc.
include(CMakePackageConfigHelpers)

install(TARGETS sanport sanport_porting sanport_suite EXPORT sanportTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/compat/include/sanport ${PROJECT_SOURCE_DIR}/core/include/sanport
                  ${PROJECT_SOURCE_DIR}/porting/include/sanport
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
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

if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(SANPORT_PC_REQUIRES_PRIVATE "liburing >= 2.3")
  set(SANPORT_PC_LIBS_PRIVATE "-pthread")
else()
  set(SANPORT_PC_REQUIRES_PRIVATE "")
  set(SANPORT_PC_LIBS_PRIVATE "-lws2_32 -lmswsock")
endif()
# Relocatable: the prefix is found from the .pc file's own place, so `--prefix` works.
file(RELATIVE_PATH SANPORT_PC_PREFIX_FROM_PCFILEDIR "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" SANPORT_PC_PREFIX_FROM_PCFILEDIR "${SANPORT_PC_PREFIX_FROM_PCFILEDIR}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/sanport.pc.in ${PROJECT_BINARY_DIR}/sanport.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sanport.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
