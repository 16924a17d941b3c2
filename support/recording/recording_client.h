#pragma once
// A Client for in-process tests that records what it is sent: join replies and sends alike.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tickcast/transport/transport.h"

namespace tickcast::support {

/// RecordingClient records each message it gets, parsed. Threads: one (the tests that use
/// it drive the Hub from their own thread).
class RecordingClient final : public Client {
 public:
  /// RecordingClient has `address` as its peer ("" is not rate limited by the Hub).
  explicit RecordingClient(std::string address = {}) : address(std::move(address)) {}

  void send(std::vector<Message> messages) override {
    for (const auto& m : messages) record(m, std::nullopt);
  }
  /// join records the reply's messages like sends; a refusal's carry its code.
  void join(JoinReply reply) override {
    const auto code =
        reply.refusal ? std::optional<FailureCode>(reply.refusal->code) : std::nullopt;
    for (const auto& m : reply.messages) record(m, code);
  }
  std::string_view transport() const override { return "test"; }
  std::string_view peer() const override { return address; }

  std::string address;
  std::vector<nlohmann::json> received;  ///< every message, parsed, in order
  /// refusals: for each message of `received`, the code of the refusal it answered.
  std::vector<std::optional<FailureCode>> refusals;

 private:
  void record(const Message& m, std::optional<FailureCode> code) {
    received.push_back(nlohmann::json::parse(*m.payload));
    refusals.push_back(code);
  }
};

}  // namespace tickcast::support
