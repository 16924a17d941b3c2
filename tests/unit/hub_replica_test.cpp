// A replica Hub (a cluster follower) beside a writer Hub on one fake clock: the writer's
// committed events reach the replica through replicate() (as the stream would hand them),
// commands and new rooms go to the writer through a WriterLink, and promote() takes over.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_clock.h"
#include "tickcast/core/hub.h"

namespace tickcast {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Keeps what the writer commits, and queues each event with its record as the stream does.
class StreamStore final : public RoomStore {
 public:
  StoreContents load(std::size_t) override {
    StoreContents out;
    out.last_commit_wall_us = last_commit_wall_us;
    for (const auto& [name, record] : records) out.rooms.push_back({record, events[name]});
    return out;
  }
  std::optional<std::string> commit(const StoreBatch& batch, std::size_t) override {
    for (const auto& r : batch.rooms) records[r.name] = r;
    for (const auto& e : batch.events) {
      events[e.room].push_back(e.event);
      stream.push_back(ReplicatedEvent{e.room, e.record, e.event});
    }
    last_commit_wall_us = batch.wall_time_us;
    return std::nullopt;
  }
  bool durable() const override { return true; }
  std::map<std::string, RoomRecord> records;
  std::map<std::string, std::vector<StoredEvent>> events;
  std::vector<ReplicatedEvent> stream;
  std::int64_t last_commit_wall_us = 0;
};

class RecordingTransport final : public Transport {
 public:
  std::string_view name() const override { return "recording"; }
  void start(Sink&) override {}
  void stop() override {}
  void publish(std::string_view, const Message& message) override {
    published.push_back(*message.payload);
  }
  TransportStats stats() const override { return {}; }
  std::vector<std::string> published;
};

class RecordingClient final : public Client {
 public:
  void send(std::vector<Message> messages) override {
    for (auto& m : messages) received.push_back(json::parse(*m.payload));
  }
  std::string_view transport() const override { return "test"; }
  std::vector<json> received;
};

// Forwards straight to the writer's Hub (NATS request/reply in the cluster).
class DirectWriterLink final : public WriterLink {
 public:
  Hub* writer = nullptr;
  bool down = false;  // no writer answers
  void forward_command(const std::string& room, const std::string& payload, const std::string& peer,
                       CommandDone done) override {
    if (down) {
      done(CommandOutcome{Error{ErrorCode::overloaded, "no writer"}, {}, {}});
      return;
    }
    writer->command(room, payload, std::move(done), peer);
  }
  void forward_join(const std::string& room, const std::string& peer, RoomDone done) override {
    writer->ensure(room, peer, std::move(done));
  }
};

struct Pair {
  Pair() {
    writer = std::make_unique<Hub>(HubOptions{TimerConfig{}, 1000ms, 64, 100}, clock, &store);
    writer->add_transport(on_writer);
    writer_link.writer = writer.get();
    replica = std::make_unique<Hub>(HubOptions{TimerConfig{}, 1000ms, 64, 100}, clock,
                                    &replica_store, &writer_link);
    replica->add_transport(on_replica);
  }
  // One round: the replica posts, the writer runs, the stream reaches the replica.
  void pump() {
    replica->pump();
    writer->pump();
    for (auto& e : store.stream) replica->replicate(std::move(e));
    store.stream.clear();
    replica->pump();
  }
  void tick(int times) {
    for (int i = 0; i < times; ++i) {
      clock.advance(1s);
      pump();
    }
  }
  testing::FakeClock clock;
  StreamStore store;
  MemoryRoomStore replica_store;  // a replica commits nothing
  DirectWriterLink writer_link;
  RecordingTransport on_writer, on_replica;
  std::unique_ptr<Hub> writer, replica;
};

TEST(HubReplica, PublishesTheWritersEventsByteForByteAndForwardsCommandsOnce) {
  Pair p;
  auto joined = std::make_shared<RecordingClient>();
  p.replica->on_subscribe("r", std::nullopt, joined);  // a room the replica has not seen
  p.pump();
  p.pump();
  ASSERT_EQ(joined->received.size(), 1u);
  EXPECT_EQ(joined->received[0]["reason"], "snapshot");

  std::optional<CommandOutcome> answer;
  p.replica->command("r", R"({"type":"start","request_id":"a"})",
                     [&](CommandOutcome o) { answer = std::move(o); });
  p.pump();
  p.pump();
  ASSERT_TRUE(answer);
  EXPECT_FALSE(answer->error);
  EXPECT_EQ(answer->request_id, "a");
  EXPECT_TRUE(answer->state.running);
  auto client = std::make_shared<RecordingClient>();
  p.replica->on_message("r", R"({"type":"start","request_id":"b"})", client);
  p.pump();
  p.pump();
  ASSERT_EQ(client->received.size(), 1u) << "the error goes to its sender";
  EXPECT_EQ(client->received[0]["code"], "already_running");
  p.tick(5);
  EXPECT_EQ(p.on_replica.published, p.on_writer.published) << "the same events, the same bytes";
  ASSERT_EQ(p.on_writer.published.size(), 6u) << "start once, then 5 ticks";

  // Resume on the replica from the 2nd event: exactly the rest.
  const std::uint64_t second = json::parse(p.on_writer.published[1])["seq"];
  auto resumed = std::make_shared<RecordingClient>();
  p.replica->on_subscribe("r", second, resumed);
  p.pump();
  ASSERT_EQ(resumed->received.size(), 4u);
  EXPECT_EQ(resumed->received[0]["seq"], second + 1);
}

TEST(HubReplica, PromotedItRunsTheTimersFromTheStoreWithSeqGoingOn) {
  Pair p;
  p.replica->command("r", R"({"type":"start"})", [](CommandOutcome) {});
  p.pump();
  p.tick(3);
  const std::uint64_t last = json::parse(p.on_replica.published.back())["seq"];
  // The writer dies after committing one more tick the replica has not received yet.
  p.clock.advance(1s);
  p.writer->pump();
  p.writer.reset();
  p.writer_link.down = true;
  std::optional<CommandOutcome> refused;
  p.replica->command("r", R"({"type":"stop"})", [&](CommandOutcome o) { refused = std::move(o); });
  p.replica->pump();
  p.replica->pump();  // the answer comes back through the strand
  ASSERT_TRUE(refused && refused->error);
  EXPECT_EQ(refused->error->code, ErrorCode::overloaded);

  p.replica->promote(p.store.load(64));
  p.replica->pump();
  EXPECT_FALSE(p.replica->replica());
  p.clock.advance(1s);
  p.replica->pump();
  std::vector<std::uint64_t> seqs;
  for (const auto& e : p.on_replica.published) seqs.push_back(json::parse(e)["seq"]);
  ASSERT_GE(seqs.size(), 6u);
  for (std::size_t i = 1; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
  EXPECT_EQ(seqs[4], last + 1) << "the tick it had missed, from the store";
  std::optional<CommandOutcome> stopped;
  p.replica->command("r", R"({"type":"stop"})", [&](CommandOutcome o) { stopped = std::move(o); });
  p.replica->pump();
  ASSERT_TRUE(stopped);
  EXPECT_FALSE(stopped->error) << "runs commands itself now";
}

}  // namespace
}  // namespace tickcast
