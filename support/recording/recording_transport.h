#pragma once
// A Transport for in-process tests that records what it is given (publishes, rooms created
// and forgotten), thread-safely, so tests can wait on it with a deadline.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tickcast/transport/transport.h"

namespace tickcast::support {

/// Published is one publish a RecordingTransport got.
struct Published {
  std::string room;
  Message message;
  nlohmann::json event;  ///< the payload parsed (discarded, i.e. null, if not JSON)
  std::chrono::steady_clock::time_point at;
};

/// RecordingTransport stands in for a real transport on the Hub. Threads: any.
class RecordingTransport final : public Transport {
 public:
  std::string_view name() const override { return "recording"; }
  void start(Sink&) override {}
  void stop() override {}
  TransportStats stats() const override { return {}; }

  void publish(std::string_view room, const Message& message) override {
    Published entry{std::string(room), message,
                    nlohmann::json::parse(*message.payload, nullptr, false),
                    std::chrono::steady_clock::now()};
    std::lock_guard lock(mutex_);
    published_.push_back(std::move(entry));
    changed_.notify_all();
  }
  void room_created(std::string_view room, const Message& snapshot) override {
    std::lock_guard lock(mutex_);
    created_.emplace_back(room, snapshot);
  }
  void forget_room(std::string_view room) override {
    std::lock_guard lock(mutex_);
    forgotten_.emplace_back(room);
  }

  /// published returns every publish so far, in order.
  std::vector<Published> published() const {
    std::lock_guard lock(mutex_);
    return published_;
  }
  /// published returns the publishes to `room`, in order.
  std::vector<Published> published(std::string_view room) const {
    std::lock_guard lock(mutex_);
    std::vector<Published> out;
    for (const auto& p : published_) {
      if (p.room == room) out.push_back(p);
    }
    return out;
  }
  /// created returns each room_created call: the room and its snapshot.
  std::vector<std::pair<std::string, Message>> created() const {
    std::lock_guard lock(mutex_);
    return created_;
  }
  /// forgotten returns the rooms forget_room was called for, in order.
  std::vector<std::string> forgotten() const {
    std::lock_guard lock(mutex_);
    return forgotten_;
  }
  /// wait waits until `condition(published)` holds; false if not within `timeout`.
  bool wait(const std::function<bool(const std::vector<Published>&)>& condition,
            std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return condition(published_); });
  }
  /// count counts the publishes to `room` (with that "reason", when given).
  static std::size_t count(const std::vector<Published>& published, std::string_view room,
                           std::string_view reason = {}) {
    std::size_t n = 0;
    for (const auto& p : published) {
      if (p.room == room &&
          (reason.empty() || (p.event.is_object() && p.event.value("reason", "") == reason)))
        ++n;
    }
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Published> published_;
  std::vector<std::pair<std::string, Message>> created_;
  std::vector<std::string> forgotten_;
};

}  // namespace tickcast::support
