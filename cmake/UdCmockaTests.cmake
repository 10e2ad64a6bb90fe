# ud_cmocka_tests(): the opening of a folder of cmocka tests. Finds cmocka through pkg-config
# (the target PkgConfig::CMOCKA, in the calling folder) and, being a macro, returns from the
# folder's CMakeLists.txt when the tests are off: UD_TESTS=OFF, or AUTO without cmocka
# (ud_resolve_option stops the configuration when UD_TESTS=ON and cmocka is missing).
macro(ud_cmocka_tests)
  if(PkgConfig_FOUND)
    pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
  endif()
  ud_resolve_option(UD_TESTS CMOCKA_FOUND)
  if(NOT UD_TESTS_ENABLED)
    return()
  endif()
endmacro()
