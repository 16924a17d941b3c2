#include "record_codec.h"

#include <nlohmann/json.hpp>

namespace tickcast::nats {

std::string hex_encode(const std::string& text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char c : text) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::optional<std::string> hex_decode(const std::string& hex) {
  if (hex.size() % 2) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = value(hex[i]), lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

namespace {
std::optional<Phase> parse_phase(const std::string& text) {
  for (Phase p : {Phase::work, Phase::short_break, Phase::long_break}) {
    if (to_string(p) == text) return p;
  }
  return std::nullopt;
}
}  // namespace

std::string encode_record(const RoomRecord& r) {
  const TimerRecord& t = r.timer;
  nlohmann::json j = {
      {"name", r.name},
      {"seq", r.seq},
      {"epoch", r.epoch},
      {"work_ms", t.config.work.count()},
      {"short_break_ms", t.config.short_break.count()},
      {"long_break_ms", t.config.long_break.count()},
      {"cycles", t.config.cycles},
      {"phase", std::string(to_string(t.phase))},
      {"completed_work", t.completed_work},
      {"running", t.running},
      {"deadline_wall_us", t.deadline_wall_us},
      {"remaining_us", t.remaining_us},
  };
  return j.dump();
}

std::optional<RoomRecord> decode_record(const std::string& json) {
  const auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    RoomRecord r;
    r.name = j.at("name").get<std::string>();
    r.seq = j.at("seq").get<std::uint64_t>();
    r.epoch = j.at("epoch").get<std::uint64_t>();
    TimerRecord& t = r.timer;
    t.config.work = Millis(j.at("work_ms").get<std::int64_t>());
    t.config.short_break = Millis(j.at("short_break_ms").get<std::int64_t>());
    t.config.long_break = Millis(j.at("long_break_ms").get<std::int64_t>());
    t.config.cycles = j.at("cycles").get<int>();
    const auto phase = parse_phase(j.at("phase").get<std::string>());
    if (!phase || t.config.cycles < 1 || t.config.work.count() <= 0 ||
        t.config.short_break.count() <= 0 || t.config.long_break.count() <= 0) {
      return std::nullopt;
    }
    t.phase = *phase;
    t.completed_work = j.at("completed_work").get<int>();
    t.running = j.at("running").get<bool>();
    t.deadline_wall_us = j.at("deadline_wall_us").get<std::int64_t>();
    t.remaining_us = j.at("remaining_us").get<std::int64_t>();
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace tickcast::nats
