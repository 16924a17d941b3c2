// The Hub with a room store on the fake clock: restarts (a new Hub on the same store),
// epochs, resume across them, and failed writes.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "fake_clock.h"
#include "recording/recording_client.h"
#include "recording/recording_transport.h"
#include "tickcast/core/hub.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A store that keeps what it is given in memory, as a durable store would across a
// restart of the Hub, and fails commits on demand.
class FakeStore final : public RoomStore {
 public:
  StoreContents load(std::size_t history) override {
    StoreContents out;
    out.last_commit_wall_us = last_commit_wall_us;
    for (const auto& [name, record] : records) {
      LoadedRoom room{record, {}};
      const auto& all = events[name];
      for (std::size_t i = all.size() > history ? all.size() - history : 0; i < all.size(); ++i) {
        room.events.push_back(all[i]);
      }
      out.rooms.push_back(std::move(room));
    }
    return out;
  }
  std::optional<std::string> commit(const StoreBatch& batch, std::size_t) override {
    ++commits;
    if (failing) return "disk full (fake)";
    for (const auto& name : batch.removed) {  // before the upserts, as SqliteRoomStore does
      records.erase(name);
      events.erase(name);
    }
    for (const auto& r : batch.rooms) {
      records[r.name] = r;
      auto& list = events[r.name];
      std::erase_if(list, [&](const StoredEvent& e) { return e.seq <= r.epoch; });
    }
    for (const auto& e : batch.events) events[e.room].push_back(e.event);
    last_commit_wall_us = batch.wall_time_us;
    return std::nullopt;
  }
  bool durable() const override { return true; }

  std::map<std::string, RoomRecord> records;
  std::map<std::string, std::vector<StoredEvent>> events;
  bool failing = false;
  int commits = 0;
  std::int64_t last_commit_wall_us = 0;
};

using support::RecordingClient;
using support::RecordingTransport;

// One server lifetime: a Hub on its own fake clock whose wall time starts where `wall_us`
// says (a restart's monotonic clock starts anew; wall time goes on).
struct Lifetime {
  Lifetime(RoomStore& store, std::int64_t wall_us, std::size_t history = 64) {
    clock.shift_wall(std::chrono::microseconds(wall_us - clock.wall_time_us()));
    hub = std::make_unique<Hub>(HubOptions{TimerConfig{}, 1000ms, history, 100}, clock, &store);
    hub->add_transport(transport);
  }
  void command(const std::string& room, const std::string& json_command) {
    hub->on_message(room, json_command, std::make_shared<RecordingClient>());
    hub->pump();
  }
  void tick(int times) {
    for (int i = 0; i < times; ++i) {
      clock.advance(1s);
      hub->pump();
    }
  }
  std::vector<json> subscribe(const std::string& room, std::optional<std::uint64_t> after) {
    auto client = std::make_shared<RecordingClient>();
    hub->on_subscribe(room, after, client);
    hub->pump();
    return client->received;
  }
  std::uint64_t last_seq() const { return published().back()["seq"]; }
  // published returns the events the Hub published, parsed, in order.
  std::vector<json> published() const {
    std::vector<json> out;
    for (const auto& p : transport.published()) out.push_back(p.event);
    return out;
  }

  testing::FakeClock clock;
  RecordingTransport transport;
  std::unique_ptr<Hub> hub;
};

constexpr std::int64_t kWall = 1'800'000'000'000'000;  // µs since the epoch, in 2027

TEST(HubStore, ANewRoomsSeqStartsAtTheWallClockAndGrowsByOne) {
  FakeStore store;
  Lifetime life(store, kWall);
  const auto snapshot = life.subscribe("r", std::nullopt);
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0]["seq"], static_cast<std::uint64_t>(kWall));
  life.command("r", R"({"type":"start"})");
  life.tick(2);
  ASSERT_EQ(life.published().size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(life.published()[i]["seq"], kWall + 1 + i);
  EXPECT_EQ(store.records.at("r").epoch, static_cast<std::uint64_t>(kWall));
  EXPECT_EQ(store.events.at("r").size(), 3u) << "committed before they were published";
}

TEST(HubStore, ARestartContinuesTheSeqTheCountdownAndResumesExactly) {
  FakeStore store;
  std::uint64_t last = 0, seen = 0;
  {
    Lifetime before(store, kWall);
    before.command("r", R"({"type":"start"})");
    before.tick(10);
    seen = before.published()[4]["seq"];  // a client that saw up to the 5th event
    last = before.last_seq();
    EXPECT_EQ(before.published().back()["data"], "00:24:50");
  }  // killed: nothing but what the store holds survives
  // Back 30 s later (wall time), on a fresh monotonic clock.
  Lifetime after(store, kWall + 10'000'000 + 30'000'000);
  const auto missed = after.subscribe("r", seen);
  ASSERT_EQ(missed.size(), last - seen) << "exactly the missed events, no snapshot";
  for (std::size_t i = 0; i < missed.size(); ++i) EXPECT_EQ(missed[i]["seq"], seen + 1 + i);
  const auto snapshot = after.subscribe("r", std::nullopt);
  EXPECT_EQ(snapshot[0]["seq"], last) << "no jump";
  EXPECT_EQ(snapshot[0]["data"], "00:24:20") << "the countdown went on while down";
  EXPECT_TRUE(snapshot[0]["state"]["running"]);
  after.tick(1);
  EXPECT_EQ(after.published().at(0)["seq"], last + 1);
  EXPECT_EQ(after.published().at(0)["data"], "00:24:19");
}

TEST(HubStore, APhaseThatEndedWhileDownEndsAtTheFirstWakeUp) {
  FakeStore store;
  {
    Lifetime before(store, kWall);
    before.command("r", R"({"type":"configure","work_ms":5000})");
    before.command("r", R"({"type":"start"})");
    before.tick(2);
  }
  Lifetime after(store, kWall + 60'000'000);
  after.hub->pump();
  ASSERT_EQ(after.published().size(), 2u);
  EXPECT_EQ(after.published()[0]["data"], "00:00:00");
  EXPECT_EQ(after.published()[1]["reason"], "phase");
  EXPECT_EQ(after.published()[1]["state"]["phase"], "short_break");
  EXPECT_EQ(after.published()[1]["state"]["running"], false);
  // The phase change is stored: a second restart does not end the phase again.
  Lifetime again(store, kWall + 70'000'000);
  again.hub->pump();
  EXPECT_TRUE(again.published().empty());
  EXPECT_EQ(again.subscribe("r", std::nullopt)[0]["state"]["phase"], "short_break");
}

TEST(HubStore, APositionOfAnotherHistoryGetsASnapshotAndTheNextEventFollowsIt) {
  MemoryRoomStore none;  // --data-dir none: a restart loses every history
  std::uint64_t old_last = 0;
  {
    Lifetime before(none, kWall);
    before.command("r", R"({"type":"start"})");
    before.tick(50);
    old_last = before.last_seq();
  }
  Lifetime after(none, kWall + 51'000'000 + 2'000'000);
  after.subscribe("r", std::nullopt);  // the room exists again, fresh
  for (std::uint64_t position : {old_last, old_last - 40, std::uint64_t{3}, old_last + 1'000'000,
                                 std::numeric_limits<std::uint64_t>::max()}) {
    const auto answer = after.subscribe("r", position);
    ASSERT_EQ(answer.size(), 1u) << position;
    EXPECT_EQ(answer[0]["reason"], "snapshot") << position;
    EXPECT_GT(answer[0]["seq"].get<std::uint64_t>(), old_last) << "never an old number again";
  }
  const std::uint64_t snapshot_seq = after.subscribe("r", old_last)[0]["seq"];
  after.command("r", R"({"type":"start"})");
  EXPECT_EQ(after.published().at(0)["seq"], snapshot_seq + 1);
  EXPECT_TRUE(after.subscribe("r", snapshot_seq + 1).empty()) << "its own position resumes";
}

TEST(HubStore, AFailedWriteStartsANewHistoryAndTheRoomKeepsTicking) {
  FakeStore store;
  Lifetime life(store, kWall);
  life.command("r", R"({"type":"start"})");
  life.tick(3);
  const std::uint64_t stored_last = life.last_seq();
  const std::uint64_t client_position = stored_last - 1;
  store.failing = true;
  life.tick(3);
  EXPECT_EQ(life.hub->stats().store_write_errors, 3u);
  const auto& published = life.published();
  ASSERT_EQ(published.size(), 7u) << "the room kept ticking";
  const std::uint64_t new_base = published[4]["seq"].get<std::uint64_t>() - 1;
  EXPECT_GT(new_base, stored_last) << "a number the store may hold is never published again";
  EXPECT_EQ(published[5]["seq"], new_base + 2);
  EXPECT_EQ(published[6]["data"], "00:24:54");
  // A position of the lost history gets a snapshot; one of the new history resumes.
  EXPECT_EQ(life.subscribe("r", client_position)[0]["reason"], "snapshot");
  EXPECT_EQ(life.subscribe("r", new_base + 1).size(), 2u);

  // Writes work again: the new history is stored from then on, the old one is dropped.
  store.failing = false;
  life.tick(1);
  EXPECT_EQ(store.records.at("r").epoch, new_base);
  EXPECT_EQ(store.events.at("r").front().seq, life.last_seq());
}

TEST(HubStore, ARestartAfterUnstoredWritesNeverReachesTheirNumbers) {
  FakeStore store;
  std::map<std::uint64_t, std::string> published;  // every seq any client could have seen
  auto log = [&](const Lifetime& life) {
    for (const json& e : life.published()) {
      const auto [it, fresh] = published.emplace(e["seq"].get<std::uint64_t>(), e.dump());
      EXPECT_TRUE(fresh || it->second == e.dump()) << "seq " << e["seq"] << " reused";
    }
  };
  std::uint64_t stored_last = 0;
  {
    Lifetime before(store, kWall);
    before.command("r", R"({"type":"configure","work_ms":3600000})");
    before.clock.shift_wall(1000us);
    before.command("r", R"({"type":"start"})");  // the last write that succeeds
    stored_last = before.last_seq();
    before.clock.shift_wall(50us);
    store.failing = true;
    for (int i = 0; i < 5; ++i) {  // published under a new base, never stored
      before.command("r", i % 2 ? R"({"type":"start"})" : R"({"type":"stop"})");
    }
    log(before);
    EXPECT_GT(before.last_seq(), static_cast<std::uint64_t>(kWall + 1050));
  }
  // Killed before any write succeeded: the store knows only the first history, which the
  // restart continues. Before it reaches the numbers of the unstored one (above the last
  // successful commit's wall time) it starts a new history.
  store.failing = false;
  Lifetime after(store, kWall + 2000);
  for (int i = 0; i < 1200; ++i) {
    after.command("r", i % 2 ? R"({"type":"start"})" : R"({"type":"stop"})");
  }
  EXPECT_EQ(after.published().at(0)["seq"], stored_last + 1) << "it went on at first";
  log(after);
  EXPECT_GT(after.last_seq(), static_cast<std::uint64_t>(kWall + 2000)) << "then a new history";
}

// Eviction (room_idle) reaches the store: an evicted room's record and events are deleted
// in the next commit (retried when it fails), so a restart does not bring it back; rooms
// loaded at start get the same tick and idle bookkeeping as rooms made in that lifetime.
std::vector<std::string> room_names(Lifetime& life) {
  std::vector<std::string> names;
  life.hub->rooms([&](const std::vector<RoomSummary>& rooms) {
    for (const auto& r : rooms) names.push_back(r.name);
  });
  life.hub->pump();
  return names;
}

TEST(HubStore, AnEvictedRoomIsRemovedFromTheStoreAndDoesNotComeBackAfterARestart) {
  FakeStore store;
  std::uint64_t gone_seq = 0;
  {
    Lifetime life(store, kWall);
    life.command("gone", R"({"type":"start"})");
    life.tick(2);
    life.command("gone", R"({"type":"stop"})");
    gone_seq = life.last_seq();
    life.command("kept", R"({"type":"start"})");  // running: never evicted
    ASSERT_TRUE(store.records.count("gone"));
    ASSERT_FALSE(store.events["gone"].empty());

    // The idle time passes (10 minutes by default) while the store fails: the room leaves
    // the hub at once and the store at the next commit that works.
    store.failing = true;
    life.clock.advance(10min + 1s);
    life.hub->pump();
    EXPECT_EQ(life.hub->stats().rooms_evicted, 1u);
    EXPECT_EQ(room_names(life), std::vector<std::string>{"kept"});
    EXPECT_TRUE(store.records.count("gone")) << "the commit failed: not removed yet";
    store.failing = false;
    life.tick(1);  // "kept" ticks: a commit
    EXPECT_FALSE(store.records.count("gone"));
    EXPECT_FALSE(store.events.count("gone"));
    EXPECT_TRUE(store.records.count("kept"));
  }

  Lifetime again(store, kWall + 20 * 60'000'000LL);
  EXPECT_EQ(room_names(again), std::vector<std::string>{"kept"});
  // The loaded running timer ticks (it is in the tick queue).
  const auto published = again.published().size();
  again.tick(1);
  ASSERT_GT(again.published().size(), published);
  EXPECT_EQ(again.published().back()["room"], "kept");
  // The evicted name made again is a new room, in a new history above the old one's seqs.
  const auto answer = again.subscribe("gone", gone_seq);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0]["reason"], "snapshot");
  EXPECT_GT(answer[0]["seq"].get<std::uint64_t>(), gone_seq);
  EXPECT_EQ(answer[0]["state"]["running"], false);
}

TEST(HubStore, ARoomLoadedAtStartIsEvictedWhenIdle) {
  FakeStore store;
  {
    Lifetime life(store, kWall);
    life.command("idle", R"({"type":"configure","work_ms":60000})");
    ASSERT_TRUE(store.records.count("idle"));
  }
  Lifetime again(store, kWall + 1'000'000);
  ASSERT_EQ(room_names(again), std::vector<std::string>{"idle"});
  ASSERT_TRUE(again.hub->next_due()) << "the loaded idle room is queued for eviction";
  again.clock.advance(10min + 1s);
  again.hub->pump();
  EXPECT_EQ(again.hub->stats().rooms_evicted, 1u);
  EXPECT_TRUE(room_names(again).empty());
  EXPECT_FALSE(store.records.count("idle"));
}

}  // namespace
}  // namespace tickcast
