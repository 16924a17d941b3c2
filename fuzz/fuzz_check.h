#pragma once
// FUZZ_CHECK is an assertion that stays on in optimised builds (NDEBUG): it aborts, so
// libFuzzer reports the input that broke a decoder's promise and keeps it.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

namespace tickcast::fuzz {

/// bytes views libFuzzer's input as text.
inline std::string_view bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace tickcast::fuzz
