#include "recorder.h"

#include <chrono>

#include "event_scan.h"

namespace tickcast::bench {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Recorder::Recorder(std::size_t clients) : tracks_(clients) {}

void Recorder::mark_ready(std::size_t client) {
  std::lock_guard lock(mutex_);
  Track& t = tracks_.at(client);
  if (!t.ready) {
    t.ready = true;
    ready_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Recorder::on_message(std::size_t client, std::string_view json, std::int64_t received_us) {
  const auto fields = scan_event(json);
  std::lock_guard lock(mutex_);
  Track& t = tracks_.at(client);
  if (!fields) {
    ++totals_.unparsed;
    return;
  }
  if (!t.ready) {
    t.ready = true;
    ready_.fetch_add(1, std::memory_order_relaxed);
  }
  if (fields->running && t.running != fields->running) {
    t.running = fields->running;
    t.running_changed_us = received_us;
  }
  if (fields->snapshot) {
    // A snapshot stands for every event up to its seq: the first one starts the count; a
    // later one (a resume past the history) means the events in between were lost.
    if (t.have_seq) {
      ++totals_.snapshots;
      if (fields->seq > t.last_seq) totals_.lost += fields->seq - t.last_seq;
    }
    if (!t.have_seq || fields->seq > t.last_seq) t.last_seq = fields->seq;
    t.have_seq = true;
    return;
  }
  ++totals_.events;
  if (measuring_) {
    ++totals_.measured_events;
    if (fields->tick) totals_.latency.record(received_us - fields->server_time_us);
  }
  if (!t.have_seq) {
    t.have_seq = true;
    t.last_seq = fields->seq;
    return;
  }
  if (fields->seq == t.last_seq + 1) {
    t.last_seq = fields->seq;
  } else if (fields->seq > t.last_seq) {
    for (std::uint64_t s = t.last_seq + 1; s < fields->seq && t.gaps.size() < 4096; ++s) {
      t.gaps.insert(s);
    }
    totals_.lost += fields->seq - t.last_seq - 1;
    t.last_seq = fields->seq;
  } else if (t.gaps.erase(fields->seq) == 1) {
    ++totals_.out_of_order;
    --totals_.lost;
  } else {
    ++totals_.duplicated;
  }
}

void Recorder::set_measuring(bool on) {
  std::lock_guard lock(mutex_);
  measuring_ = on;
}

std::optional<std::int64_t> Recorder::running_reached(bool target) const {
  std::lock_guard lock(mutex_);
  std::int64_t latest = 0;
  for (const Track& t : tracks_) {
    if (!t.ready) continue;
    if (t.running != target) return std::nullopt;
    latest = std::max(latest, t.running_changed_us);
  }
  return latest;
}

std::size_t Recorder::running_count(bool target) const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const Track& t : tracks_) n += (t.ready && t.running == target) ? 1 : 0;
  return n;
}

RecorderTotals Recorder::totals() const {
  std::lock_guard lock(mutex_);
  RecorderTotals copy = totals_;
  copy.ready = ready_.load();
  return copy;
}

}  // namespace tickcast::bench
