# Warnings and sanitizers as INTERFACE targets that only the project's own targets link,
# instead of global add_compile_options: a parent project that add_subdirectory()s
# tickcast keeps its own flags, and neither target reaches the installed package (they are
# linked through $<BUILD_INTERFACE:...>).
#
#   tickcast_warnings    -Wall -Wextra -Wpedantic
#   tickcast_sanitizers  -fsanitize=${TICKCAST_SANITIZE} (compile and link) and, with
#                        TICKCAST_BUILD_FUZZ, -fsanitize=fuzzer-no-link (compile only) so
#                        libFuzzer gets coverage from every library a fuzzer links.
#
# tickcast_link_flags(<dir>) links both into every target defined under <dir> (called
# once, from the root, after all subdirectories), so a new target cannot forget them.

add_library(tickcast_warnings INTERFACE)
target_compile_options(tickcast_warnings INTERFACE -Wall -Wextra -Wpedantic)

add_library(tickcast_sanitizers INTERFACE)
if(TICKCAST_SANITIZE)
  target_compile_options(tickcast_sanitizers INTERFACE
    -fsanitize=${TICKCAST_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(tickcast_sanitizers INTERFACE -fsanitize=${TICKCAST_SANITIZE})
endif()
if(TICKCAST_BUILD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TICKCAST_BUILD_FUZZ needs clang and libFuzzer: use the fuzz preset")
  endif()
  target_compile_options(tickcast_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

function(tickcast_link_flags dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$")
      target_link_libraries(${target} PRIVATE
        $<BUILD_INTERFACE:tickcast_warnings> $<BUILD_INTERFACE:tickcast_sanitizers>)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    tickcast_link_flags(${subdir})
  endforeach()
endfunction()
