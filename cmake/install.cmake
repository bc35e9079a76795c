# `cmake --install`: the program, its configuration, the systemd units, the
# logrotate snippet, the deid recipes deid ships and the README. The man pages
# are installed by cmake/man.cmake; the web assets are compiled into the
# program (lib/http/assets.c), so there are none to install.
#
# The installed configuration is etc/sendit.ini with its relative paths made
# absolute under the state and log folders below (the pidfile too: /run is
# root's, and a daemon started by hand as the user sendit must write it); it is installed only
# when none is there yet, so an upgrade never overwrites an operator's edits
# (the Debian package marks it a conffile instead, which dpkg keeps).
include(GNUInstallDirs)

set(SENDIT_STATE_DIR "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/sendit" CACHE PATH
    "Installed sendit's data: input, storage, quarantine, database, keys")
set(SENDIT_LOG_DIR "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/log/sendit" CACHE PATH
    "Installed sendit's log folder (when it does not log to the journal)")
set(SENDIT_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sendit")
set(SENDIT_SYSTEM_CONFIG "${SENDIT_CONFIG_DIR}/sendit.ini" CACHE STRING
    "Configuration read when there is no ./sendit.ini and no --config (\"\": none)")
set(SENDIT_USER "sendit" CACHE STRING "System user the systemd units run as")
# Debian 12 keeps units in /lib/systemd/system; other prefixes get their own.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(sendit_unit_default "/lib/systemd/system")
else()
  set(sendit_unit_default "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(SENDIT_SYSTEMD_UNIT_DIR "${sendit_unit_default}" CACHE PATH "Where the systemd units go")

if(NOT SENDIT_DICOM_ONLY)
  target_compile_definitions(sendit_core PRIVATE SENDIT_SYSTEM_CONFIG="${SENDIT_SYSTEM_CONFIG}")
  target_compile_definitions(sendit PRIVATE SENDIT_VERSION="${PROJECT_VERSION}")
  install(TARGETS sendit RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

  set(SENDIT_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/sendit")
  set(sendit_pkg ${CMAKE_BINARY_DIR}/packaging)
  add_custom_command(
    OUTPUT ${sendit_pkg}/sendit.ini
    COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_SOURCE_DIR}/etc/sendit.ini -DOUT=${sendit_pkg}/sendit.ini
            -DSTATE=${SENDIT_STATE_DIR} -DLOGS=${SENDIT_LOG_DIR}
            -DCONFIG=${SENDIT_SYSTEM_CONFIG} -P ${CMAKE_SOURCE_DIR}/cmake/installed_ini.cmake
    DEPENDS ${CMAKE_SOURCE_DIR}/etc/sendit.ini ${CMAKE_SOURCE_DIR}/cmake/installed_ini.cmake
    COMMENT "the installed sendit.ini")
  add_custom_target(sendit_installed_ini ALL DEPENDS ${sendit_pkg}/sendit.ini)
  foreach(unit sendit.service sendit-worker.service)
    configure_file(${CMAKE_SOURCE_DIR}/packaging/systemd/${unit}.in ${sendit_pkg}/${unit} @ONLY)
  endforeach()
  configure_file(${CMAKE_SOURCE_DIR}/packaging/logrotate/sendit.in ${sendit_pkg}/logrotate @ONLY)

  install(CODE "
    # file(INSTALL) adds DESTDIR to DESTINATION itself; the check must add it by hand.
    set(sendit_ini \"\$ENV{DESTDIR}${SENDIT_CONFIG_DIR}/sendit.ini\")
    if(EXISTS \"\${sendit_ini}\")
      message(STATUS \"Kept: \${sendit_ini} (an installed configuration is never overwritten)\")
    else()
      file(INSTALL DESTINATION \"${SENDIT_CONFIG_DIR}\" TYPE FILE
           PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
           FILES \"${sendit_pkg}/sendit.ini\")
    endif()")
  install(FILES ${sendit_pkg}/sendit.service ${sendit_pkg}/sendit-worker.service
          DESTINATION ${SENDIT_SYSTEMD_UNIT_DIR})
  install(FILES ${sendit_pkg}/logrotate DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/logrotate.d
          RENAME sendit)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/share/deid-recipes
          DESTINATION ${CMAKE_INSTALL_DATADIR}/sendit)
  install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()
