# Install rules and the CMake package config, so that another project can
#   find_package(chainjit CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE chainjit::chainjit)
include(CMakePackageConfigHelpers)

install(TARGETS chainjit_ir chainjit_compiler chainjit_runtime chainjit_onnx chainjit
  EXPORT chainjitTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS chainjit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Public headers (and ops.def, which Op.h includes); they need only the
# standard library, which tests/consumer checks.
foreach(dir ir compiler runtime .)
  install(DIRECTORY ${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h" PATTERN "*.def")
endforeach()

install(EXPORT chainjitTargets NAMESPACE chainjit::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/chainjit)
configure_package_config_file(cmake/chainjitConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/chainjitConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/chainjit)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/chainjitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/chainjitConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/chainjitConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/chainjit)
