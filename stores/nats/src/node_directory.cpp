#include "node_directory.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "record_codec.h"

namespace tickcast::nats {

namespace {

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NodeDirectory::NodeDirectory(kvStore* kv, std::string node_id)
    : kv_(kv), id_(std::move(node_id)), key_("node." + hex_encode(id_)) {
  kvWatchOptions options;
  kvWatchOptions_Init(&options);
  options.IgnoreDeletes = false;
  kvWatcher* raw = nullptr;
  const natsStatus s = kvStore_Watch(&raw, kv_, "node.*", &options);
  if (s != NATS_OK) throw std::runtime_error("node watch: " + status_text(s));
  watcher_.reset(raw);
}

NodeDirectory::~NodeDirectory() {
  if (watcher_) kvWatcher_Stop(watcher_.get());
}

void NodeDirectory::beat(const std::string& url, const std::string& role) {
  const std::string value =
      nlohmann::json{{"id", id_}, {"url", url}, {"role", role}, {"wall_us", wall_us()}}.dump();
  std::uint64_t revision = 0;
  kvStore_Put(&revision, kv_, key_.c_str(), value.data(), static_cast<int>(value.size()));
}

void NodeDirectory::poll(std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    kvEntry* raw = nullptr;
    if (kvWatcher_Next(&raw, watcher_.get(), left.count()) != NATS_OK) return;
    KvEntryPtr entry(raw);
    if (!entry) continue;                              // the end of the initial values
    if (kvEntry_Operation(entry.get()) != kvOp_Put) {  // a node that left
      const std::string key = kvEntry_Key(entry.get());
      if (auto id = hex_decode(key.substr(std::string("node.").size()))) {
        std::lock_guard lock(mutex_);
        beats_.erase(*id);
      }
      continue;
    }
    const auto j =
        nlohmann::json::parse(std::string(static_cast<const char*>(kvEntry_Value(entry.get())),
                                          static_cast<std::size_t>(kvEntry_ValueLen(entry.get()))),
                              nullptr, false);
    if (!j.is_object()) continue;
    const std::string id = j.value("id", "");
    if (id.empty()) continue;
    std::lock_guard lock(mutex_);
    beats_[id] = Beat{j.value("url", ""), j.value("role", ""), j.value("wall_us", std::int64_t{0})};
  }
}

std::vector<NodeSeen> NodeDirectory::nodes(std::chrono::milliseconds heartbeat) const {
  const std::int64_t now = wall_us();
  std::vector<NodeSeen> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, beat] : beats_) {
    const std::int64_t age_ms = (now - beat.wall_us) / 1000;
    out.push_back(NodeSeen{id, beat.url, beat.role, age_ms, age_ms <= 3 * heartbeat.count()});
  }
  return out;
}

void NodeDirectory::leave() { kvStore_Delete(kv_, key_.c_str()); }

}  // namespace tickcast::nats
