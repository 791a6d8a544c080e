# What `cmake --install` puts where. The Debian package (debian/rules) is
# built from these same rules, so a file named here reaches both installs.
#
# To ship one more program, man page or unit, add it to ONE list below:
#   ICESTATION_PROGRAMS   executable targets, installed to sbin/
#   ICESTATION_MAN8       man pages of section 8, under man/
#   ICESTATION_UNITS      systemd units, under systemd/; @SBINDIR@ in them
#                         becomes the installed sbin directory
#   ICESTATION_CONFIGS    the shipped config tree (Debian conffiles)
set(ICESTATION_PROGRAMS icestation icestationctl)
set(ICESTATION_MAN8 man/icestation.8 man/icestationctl.8)
set(ICESTATION_UNITS systemd/icestation.service systemd/icestation.socket)
set(ICESTATION_CONFIGS conf/peers.yml conf/log.yml conf/sub_stun.yml conf/sub_turn.yml)

include(GNUInstallDirs)

# The daemon's default config path and the unit's LoadCredential= name
# /etc/icestation, whatever the prefix, so the config goes there and not to
# ${prefix}/etc.
set(ICESTATION_CONFDIR /etc/icestation CACHE PATH "Where the config tree is installed")
# Empty: <prefix>/lib/systemd/system, which systemd reads for /usr/local too.
# debian/rules sets /lib/systemd/system, where Debian 12's debhelper looks.
set(ICESTATION_SYSTEMD_UNITDIR "" CACHE PATH "Where systemd units are installed")

install(TARGETS ${ICESTATION_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${ICESTATION_MAN8} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
# The group that may read /etc/icestation (see docs/operations.md).
install(FILES systemd/icestation.sysusers DESTINATION lib/sysusers.d RENAME icestation.conf)
# README.md links to docs/*.md, so they keep that layout; icestation(8)
# points there.
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB ICESTATION_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${ICESTATION_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# Units name the daemon by its installed path, which is known only at install
# time (`cmake --install build --prefix /opt/ice` moves it), so they are
# configured then, not at configure time.
foreach(unit IN LISTS ICESTATION_UNITS)
  get_filename_component(name ${unit} NAME)
  install(CODE "
    set(SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
    if(NOT IS_ABSOLUTE \"\${SBINDIR}\")
      set(SBINDIR \"\${CMAKE_INSTALL_PREFIX}/\${SBINDIR}\")
    endif()
    set(unitdir \"${ICESTATION_SYSTEMD_UNITDIR}\")
    if(unitdir STREQUAL \"\")
      set(unitdir \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
    endif()
    message(STATUS \"Installing: \$ENV{DESTDIR}\${unitdir}/${name}\")
    configure_file(\"${PROJECT_SOURCE_DIR}/${unit}\" \"\$ENV{DESTDIR}\${unitdir}/${name}\" @ONLY)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\$ENV{DESTDIR}\${unitdir}/${name}\")")
endforeach()

# Config files are never overwritten: a reinstall over an edited
# /etc/icestation keeps the operator's files, as dpkg does for conffiles.
# Mode 0644 whatever the checkout's umask: the service reads them as
# "other", once its group has let it into the 0750 directory.
foreach(conf IN LISTS ICESTATION_CONFIGS)
  get_filename_component(name ${conf} NAME)
  install(CODE "
    set(dst \"\$ENV{DESTDIR}${ICESTATION_CONFDIR}/${name}\")
    if(EXISTS \"\${dst}\")
      message(STATUS \"Keeping: \${dst} (exists)\")
    else()
      # file(INSTALL) adds DESTDIR itself.
      file(INSTALL \"${PROJECT_SOURCE_DIR}/${conf}\" DESTINATION \"${ICESTATION_CONFDIR}\"
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()")
endforeach()
