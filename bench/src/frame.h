#pragma once
// The tcp floor's framing: a 4-byte big-endian length, then that many bytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tickcast::bench {

/// kMaxFrame bounds a frame's payload.
inline constexpr std::size_t kMaxFrame = 1 << 20;

/// encode_frame returns `payload` with its length prefix.
inline std::string encode_frame(std::string_view payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string out;
  out.reserve(4 + payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

/// FrameView is one whole frame found in a byte buffer.
struct FrameView {
  std::string_view payload;
  bool too_large = false;  ///< its length exceeds kMaxFrame (payload is empty then)
};

/// next_frame returns the first whole frame in `bytes`, or nullopt when `bytes` does not
/// hold one yet. A length beyond kMaxFrame is returned at once as too_large.
inline std::optional<FrameView> next_frame(std::string_view bytes) {
  if (bytes.size() < 4) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                        (std::size_t{p[2]} << 8) | std::size_t{p[3]};
  if (n > kMaxFrame) return FrameView{{}, true};
  if (bytes.size() - 4 < n) return std::nullopt;
  return FrameView{bytes.substr(4, n), false};
}

}  // namespace tickcast::bench
