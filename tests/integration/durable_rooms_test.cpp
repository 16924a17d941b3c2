// Durable rooms: real restarts (kill -9) of the real server on a real SQLite data folder.
// Every client logs what it saw; the checks compare logs, never elapsed times.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/event_log.h"
#include "support/room_client.h"
#include "support/server_process.h"
#include "support/sse_reader.h"
#include "support/temp_dir.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::EventLog;
using testing::metric;
using testing::poll_room;
using testing::post_command;
using testing::read_sse;
using testing::room_snapshot;
using testing::ServerProcess;
using testing::SseReader;
using testing::TempDir;

std::uint64_t id_of(const testing::SseEvent& e) { return std::stoull(e.id); }

// After a kill -9 the stream ends; take what arrived before it.
void drain(SseReader& reader, EventLog& log, std::vector<json>& seen) {
  read_sse(
      reader, log, seen, [] { return false; }, 2s);
}

std::vector<std::string> server_args(const std::string& data_dir, const std::string& tick_ms) {
  return {"--transport", "sse,longpoll", "--tick-ms",  tick_ms,
          "--work",      "1h",           "--data-dir", data_dir};
}

TEST(DurableRooms, AKillNineRestartGoesOnByTheWallClockAndResumesExactly) {
  TempDir data;
  EventLog log;
  std::vector<json> early_seen, witness_seen;
  std::uint64_t early_last = 0, poll_next = 0;
  {
    ServerProcess server(server_args(data.path(), "100"));
    ASSERT_EQ(post_command(server, "focus", R"({"type":"start"})").status, 200);
    {
      SseReader early(server.port(), "/sse/rooms/focus");
      read_sse(early, log, early_seen, [&] { return early_seen.size() >= 4; });
      ASSERT_EQ(early_seen.size(), 4u);
      early_last = early_seen.back()["seq"];
      early.abort();
    }
    const json answer = poll_room(server, "focus?since=" + std::to_string(early_last));
    ASSERT_FALSE(answer["events"].empty());
    for (const json& e : answer["events"]) log.add(e);
    poll_next = answer["next"];
    // The witness is connected when the server dies: everything it saw was sent.
    SseReader witness(server.port(), "/sse/rooms/focus");
    read_sse(witness, log, witness_seen, [&] { return witness_seen.size() >= 10; });
    ASSERT_EQ(witness_seen.size(), 10u);
    server.kill_hard();
    drain(witness, log, witness_seen);
  }
  const json& last = witness_seen.back();
  const std::uint64_t witness_last = last["seq"];
  const std::uint64_t max_sent = log.by_seq.rbegin()->first;
  EXPECT_EQ(max_sent, witness_last);

  ServerProcess server(server_args(data.path(), "100"));
  // The countdown went on by the wall time it was down: its deadline, as of the last event
  // seen, is at most server_time + remaining (that tick was due at or before it was sent).
  const json snapshot = room_snapshot(server, "focus");
  ASSERT_EQ(snapshot["reason"], "snapshot");
  EXPECT_TRUE(snapshot["state"]["running"]);
  EXPECT_EQ(snapshot["state"]["phase"], "work");
  const std::int64_t down_ms = (snapshot["server_time_us"].get<std::int64_t>() -
                                last["server_time_us"].get<std::int64_t>()) /
                               1000;
  EXPECT_LE(snapshot["state"]["remaining_ms"].get<std::int64_t>(),
            last["state"]["remaining_ms"].get<std::int64_t>() - down_ms + 2)  // ms rounding
      << "the countdown did not go on while the server was down";
  EXPECT_GE(snapshot["seq"].get<std::uint64_t>(), witness_last) << "a seq went backwards";

  // SSE: the witness resumes with exactly the events after its last one, none again.
  std::vector<json> resumed;
  SseReader again(server.port(), "/sse/rooms/focus",
                  {{"Last-Event-ID", std::to_string(witness_last)}});
  read_sse(again, log, resumed, [&] { return resumed.size() >= 5; });
  ASSERT_EQ(resumed.size(), 5u);
  for (std::size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_NE(resumed[i]["reason"], "snapshot");
    EXPECT_EQ(resumed[i]["seq"], witness_last + 1 + i) << "a gap or a repeat at the restart";
  }
  // The early client resumes from before the witness joined: the stored events come back
  // byte for byte (EventLog compares them with what the witness saw), then new ones.
  std::vector<json> early_again;
  SseReader early(server.port(), "/sse/rooms/focus",
                  {{"Last-Event-ID", std::to_string(early_last)}});
  read_sse(early, log, early_again,
           [&] { return !early_again.empty() && early_again.back()["seq"] > witness_last + 1; });
  ASSERT_FALSE(early_again.empty());
  for (std::size_t i = 0; i < early_again.size(); ++i) {
    EXPECT_EQ(early_again[i]["seq"], early_last + 1 + i);
  }
  // Long-poll: `since` from the last lifetime resumes exactly too.
  const json answer = poll_room(server, "focus?since=" + std::to_string(poll_next));
  ASSERT_FALSE(answer["events"].empty());
  for (std::size_t i = 0; i < answer["events"].size(); ++i) {
    EXPECT_EQ(answer["events"][i]["seq"], poll_next + 1 + i);
    log.add(answer["events"][i]);
  }
}

TEST(DurableRooms, APausedTimerKeepsItsRemainingTimePhaseAndLengthsAcrossARestart) {
  TempDir data;
  json paused;
  {
    ServerProcess server(server_args(data.path(), "100"));
    ASSERT_EQ(post_command(server, "paused",
                           R"({"type":"configure","work_ms":60000,"short_break_ms":20000})")
                  .status,
              200);
    ASSERT_EQ(post_command(server, "paused", R"({"type":"skip"})").status,
              200);  // short break, 1 work done
    ASSERT_EQ(post_command(server, "paused", R"({"type":"start"})").status, 200);
    ASSERT_EQ(post_command(server, "paused", R"({"type":"stop"})").status, 200);
    paused = room_snapshot(server, "paused");
    ASSERT_EQ(server.terminate(), std::optional<int>(0));  // a clean restart this time
  }
  ServerProcess server(server_args(data.path(), "100"));
  const json restored = room_snapshot(server, "paused");
  EXPECT_EQ(restored["seq"], paused["seq"]);
  EXPECT_EQ(restored["state"], paused["state"]) << "phase, remaining, lengths, completed work";
  EXPECT_EQ(restored["state"]["phase"], "short_break");
  EXPECT_EQ(restored["state"]["completed_work"], 1);
  EXPECT_EQ(restored["state"]["running"], false);
}

TEST(DurableRooms, AKillNineInACommandBurstNeverSendsOneSeqWithTwoPayloads) {
  TempDir data;
  EventLog log;
  std::vector<json> seen_a, seen_b;
  {
    ServerProcess server(server_args(data.path(), "20"));
    SseReader a(server.port(), "/sse/rooms/burst");
    SseReader b(server.port(), "/sse/rooms/burst");
    std::atomic<bool> stop{false};
    std::vector<std::thread> senders;
    senders.reserve(3);
    for (int t = 0; t < 3; ++t) {
      senders.emplace_back([&, t] {
        const char* commands[] = {R"({"type":"start"})", R"({"type":"stop"})",
                                  R"({"type":"configure","work_ms":600000})", R"({"type":"skip"})"};
        for (int i = t; !stop; ++i) {
          if (post_command(server, "burst", commands[i % 4]).status == 0)
            return;  // the server is gone
        }
      });
    }
    read_sse(a, log, seen_a, [&] { return seen_a.size() >= 150; });
    server.kill_hard();  // in the middle of the burst
    stop = true;
    for (auto& t : senders) t.join();
    drain(a, log, seen_a);
    drain(b, log, seen_b);
  }
  ASSERT_GE(seen_a.size(), 150u);
  const std::uint64_t last_a = seen_a.back()["seq"];

  ServerProcess server(server_args(data.path(), "20"));
  std::vector<json> resumed, fresh;
  SseReader again(server.port(), "/sse/rooms/burst", {{"Last-Event-ID", std::to_string(last_a)}});
  SseReader newcomer(server.port(), "/sse/rooms/burst");
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    for (int i = 0; !stop; ++i)
      post_command(server, "burst", i % 2 ? R"({"type":"stop"})" : R"({"type":"start"})").status;
  });
  read_sse(again, log, resumed, [&] { return resumed.size() >= 60; });
  read_sse(newcomer, log, fresh, [&] { return fresh.size() >= 30; });
  stop = true;
  sender.join();
  ASSERT_GE(resumed.size(), 60u);
  EXPECT_EQ(resumed.front()["seq"], last_a + 1) << "resume is exact across the kill";
  EXPECT_NE(resumed.front()["reason"], "snapshot");
  EXPECT_GE(log.by_seq.size(), 200u);
}

TEST(DurableRooms, APositionFromAnotherHistoryGetsASnapshotAndTheNextEventsFollowIt) {
  std::uint64_t old_position = 0;
  {
    ServerProcess server({"--transport", "sse,longpoll", "--tick-ms", "50", "--data-dir", "none"});
    ASSERT_EQ(post_command(server, "room", R"({"type":"start"})").status, 200);
    SseReader reader(server.port(), "/sse/rooms/room");
    EventLog log;
    std::vector<json> seen;
    read_sse(reader, log, seen, [&] { return seen.size() >= 5; });
    ASSERT_EQ(seen.size(), 5u);
    old_position = seen.back()["seq"];
    server.kill_hard();
  }
  ServerProcess server({"--transport", "sse,longpoll", "--tick-ms", "50", "--data-dir", "none"});
  // SSE: the old Last-Event-ID gets a snapshot of the new history, then its events.
  SseReader reader(server.port(), "/sse/rooms/room",
                   {{"Last-Event-ID", std::to_string(old_position)}});
  auto first = reader.next_event(5s);
  ASSERT_TRUE(first);
  const json snapshot = json::parse(first->data);
  EXPECT_EQ(snapshot["reason"], "snapshot");
  EXPECT_GT(snapshot["seq"].get<std::uint64_t>(), old_position) << "an old number again";
  ASSERT_EQ(post_command(server, "room", R"({"type":"start"})").status, 200);
  auto next = reader.next_event(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(id_of(*next), id_of(*first) + 1);
  EXPECT_EQ(json::parse(next->data)["reason"], "start");

  // Long-poll: an old `since`, and one ahead of the room, get the snapshot; its `next`
  // then resumes.
  const std::uint64_t room_seq = room_snapshot(server, "room")["seq"];
  for (std::uint64_t since : {old_position, room_seq + 1'000'000'000}) {
    const json answer = poll_room(server, "room?timeout_ms=0&since=" + std::to_string(since));
    ASSERT_EQ(answer["events"].size(), 1u) << since;
    EXPECT_EQ(answer["events"][0]["reason"], "snapshot") << since;
    EXPECT_EQ(answer["next"], answer["events"][0]["seq"]) << since;
  }
  const json answer = poll_room(server, "room?since=" + std::to_string(room_seq));
  ASSERT_FALSE(answer["events"].empty());
  EXPECT_EQ(answer["events"][0]["seq"], room_seq + 1);
  EXPECT_NE(answer["events"][0]["reason"], "snapshot");
}

// run_server runs tickcast-server with `args` and returns what it printed and its exit code.
std::pair<std::string, int> run_server(const std::string& args) {
  const std::string out = testing::run_command(
      testing::server_binary() + " --host 127.0.0.1 --port 0 " + args + " 2>&1; echo \"exit=$?\"");
  const auto at = out.rfind("exit=");
  return {out.substr(0, at), at == std::string::npos ? -1 : std::stoi(out.substr(at + 5))};
}

TEST(DurableRooms, ACorruptDataFileIsAClearStartError) {
  TempDir data;
  std::ofstream(data.path() + "/tickcast.db") << std::string(4096, '\x7f');
  const auto [out, code] = run_server("--data-dir " + data.path());
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find(data.path() + "/tickcast.db"), std::string::npos) << out;
  EXPECT_NE(out.find("not a database"), std::string::npos) << out;
}

TEST(DurableRooms, ADataFolderLockedByARunningServerIsAClearStartError) {
  TempDir data;
  ServerProcess first({"--data-dir", data.path()});
  const auto [out, code] = run_server("--data-dir " + data.path());
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find(data.path() + "/tickcast.lock"), std::string::npos) << out;
  EXPECT_NE(out.find("locked by another running tickcast-server (pid " +
                     std::to_string(first.pid()) + ")"),
            std::string::npos)
      << out;
  EXPECT_EQ(room_snapshot(first, "still")["reason"], "snapshot") << "the first one still serves";
}

// A mount for the duration of a test, when this process may mount (root); else the test
// skips.
class Mount {
 public:
  Mount(const std::string& source, const std::string& target, const char* type, unsigned long flags,
        const char* data) {
    ok_ = ::mount(source.c_str(), target.c_str(), type, flags, data) == 0;
    if (ok_ && (flags & MS_BIND) && (flags & MS_RDONLY)) {  // a bind mount is made read-only
      ok_ = ::mount("", target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0;
    }
    if (ok_) target_ = target;
  }
  ~Mount() {
    if (!target_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
  std::string target_;
};

TEST(DurableRooms, AReadOnlyDataFolderIsAClearStartError) {
  TempDir data;
  std::optional<Mount> read_only;
  if (::geteuid() == 0) {  // root writes through permission bits: use a read-only mount
    read_only.emplace(data.path(), data.path(), nullptr, MS_BIND | MS_RDONLY, nullptr);
    if (!read_only->ok()) GTEST_SKIP() << "cannot make a read-only mount here";
  } else {
    std::filesystem::permissions(
        data.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  }
  const auto [out, code] = run_server("--data-dir " + data.path());
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find(data.path()), std::string::npos) << out;
  EXPECT_TRUE(out.find("Read-only file system") != std::string::npos ||
              out.find("Permission denied") != std::string::npos)
      << out;
  if (::geteuid() != 0)
    std::filesystem::permissions(data.path(), std::filesystem::perms::owner_all);
}

TEST(DurableRooms, AFullDiskIsCountedAndTheRoomKeepsTickingUnderNewNumbers) {
  TempDir mount_point;
  Mount tmpfs("tmpfs", mount_point.path(), "tmpfs", 0, "size=2m");
  if (!tmpfs.ok()) GTEST_SKIP() << "cannot mount a small tmpfs here (needs root)";
  const std::string data = mount_point.path() + "/data";
  EventLog log;
  std::vector<json> seen;
  {
    ServerProcess server(server_args(data, "20"));
    ASSERT_EQ(post_command(server, "full", R"({"type":"start"})").status, 200);
    SseReader reader(server.port(), "/sse/rooms/full");
    read_sse(reader, log, seen, [&] { return seen.size() >= 5; });
    // Fill the disk.
    {
      std::ofstream filler(mount_point.path() + "/filler", std::ios::binary);
      const std::string block(4096, 'f');
      while (filler.write(block.data(), block.size()) && filler.flush()) {
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (metric(server, "tickcast_store_write_errors_total") == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      read_sse(reader, log, seen, [&, n = seen.size()] { return seen.size() > n; });
    }
    ASSERT_GT(metric(server, "tickcast_store_write_errors_total"), 0u);
    // The room keeps ticking: 20 more events, contiguous but for one jump to a new history.
    const std::size_t before = seen.size();
    read_sse(reader, log, seen, [&] { return seen.size() >= before + 20; });
    ASSERT_GE(seen.size(), before + 20);
    int jumps = 0;
    for (std::size_t i = 2; i < seen.size(); ++i) {  // [0] is the snapshot
      const std::uint64_t a = seen[i - 1]["seq"], b = seen[i]["seq"];
      ASSERT_GT(b, a);
      if (b != a + 1) ++jumps;
    }
    EXPECT_GE(jumps, 1) << "a new history when the writes began to fail";
    // Logged once per failing spell (SQLite may find room again after a checkpoint), not
    // once per failed batch.
    const std::string output = server.output();
    auto count = [&](const std::string& what) {
      std::size_t n = 0;
      for (auto at = output.find(what); at != std::string::npos; at = output.find(what, at + 1))
        ++n;
      return n;
    };
    EXPECT_GE(count("room store write failed"), 1u) << output;
    EXPECT_LE(count("room store write failed"), count("room store writes work again") + 1);
    EXPECT_LT(count("room store write failed"),
              metric(server, "tickcast_store_write_errors_total") + 1);
    server.kill_hard();
    drain(reader, log, seen);
  }
  std::filesystem::remove(mount_point.path() + "/filler");
  // Back with room on the disk: no number sent before comes back with another payload.
  ServerProcess server(server_args(data, "20"));
  std::vector<json> after;
  SseReader reader(server.port(), "/sse/rooms/full",
                   {{"Last-Event-ID", seen.back()["seq"].dump()}});
  read_sse(reader, log, after, [&] { return after.size() >= 30; });
  ASSERT_GE(after.size(), 30u);
  // The last history seen was not stored (a snapshot), or stored from a later write on
  // (an exact resume).
  if (after.front()["reason"] != "snapshot") {
    EXPECT_EQ(after.front()["seq"], seen.back()["seq"].get<std::uint64_t>() + 1);
  }
}

}  // namespace
}  // namespace tickcast
