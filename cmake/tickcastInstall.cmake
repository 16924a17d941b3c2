# Installation and the CMake package: `cmake --install` puts the public headers under
# include/tickcast/<part>/, the static libraries under lib/, and tickcastConfig.cmake with
# one exported targets file per component under lib/cmake/tickcast/, so that another
# project does
#
#   find_package(tickcast CONFIG REQUIRED COMPONENTS ws mqtt)
#   target_link_libraries(app PRIVATE tickcast::ws tickcast::mqtt)
#
# Each component's targets file is loaded only when asked for, after the config has found
# that component's own dependencies (libwebsockets, libmosquitto, cpp-httplib, Threads).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TICKCAST_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tickcast)

# Components in dependency order; each lists its source folder and its targets.
set(_tickcast_component_dirs
  transport transports/base
  core core
  auth transports/auth
  sqlite stores/sqlite
  http transports/http
  ws transports/ws
  sse transports/sse
  longpoll transports/longpoll
  socketio transports/socketio
  mqtt transports/mqtt
  httplib transports/httplib
  core_httplib core/httplib
  cluster transports/cluster
  launch transports/launch)
set(_tickcast_targets_core tickcast_core)
set(_tickcast_targets_http tickcast_http tickcast_http_internal)

set(TICKCAST_INSTALLED_COMPONENTS "")
list(LENGTH _tickcast_component_dirs _n)
math(EXPR _last "${_n} - 1")
foreach(_i RANGE 0 ${_last} 2)
  math(EXPR _j "${_i} + 1")
  list(GET _tickcast_component_dirs ${_i} _component)
  list(GET _tickcast_component_dirs ${_j} _dir)
  if(NOT TARGET tickcast_${_component})
    continue()  # not built (TICKCAST_WITH_<X>=OFF)
  endif()
  if(DEFINED _tickcast_targets_${_component})
    set(_targets ${_tickcast_targets_${_component}})
  else()
    set(_targets tickcast_${_component})
  endif()
  install(TARGETS ${_targets} EXPORT tickcast-${_component}-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT tickcast_development
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT tickcast_runtime
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tickcast_runtime)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir}/include/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT tickcast_development
    FILES_MATCHING PATTERN "*.h")
  install(EXPORT tickcast-${_component}-targets
    NAMESPACE tickcast::
    DESTINATION ${TICKCAST_INSTALL_CMAKEDIR} COMPONENT tickcast_development)
  list(APPEND TICKCAST_INSTALLED_COMPONENTS ${_component})
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tickcastConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tickcastConfig.cmake
  INSTALL_DESTINATION ${TICKCAST_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tickcastConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tickcastConfig.cmake ${PROJECT_BINARY_DIR}/tickcastConfigVersion.cmake
  DESTINATION ${TICKCAST_INSTALL_CMAKEDIR} COMPONENT tickcast_development)
