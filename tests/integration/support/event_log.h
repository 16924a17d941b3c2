#pragma once
// EventLog is every event any client saw, by seq: one seq must always be one payload.
// A second, different payload under a seq is a test failure (fenced writers, restarts).

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>

namespace tickcast::testing {

struct EventLog {
  void add(const nlohmann::json& event) {
    const std::uint64_t seq = event["seq"];
    auto [it, fresh] = by_seq.emplace(seq, event);
    if (!fresh && it->second != event) {
      ADD_FAILURE() << "seq " << seq << " was sent twice with different payloads:\n"
                    << it->second.dump() << "\n"
                    << event.dump();
    }
  }
  std::map<std::uint64_t, nlohmann::json> by_seq;
};

}  // namespace tickcast::testing
