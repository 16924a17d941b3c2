// The SQLite room store on real files in a fresh temporary folder.
#include "tickcast/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "integration/support/temp_dir.h"

namespace tickcast::sqlite {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

RoomRecord record(const std::string& name, std::uint64_t seq, std::uint64_t epoch) {
  RoomRecord r;
  r.name = name;
  r.seq = seq;
  r.epoch = epoch;
  r.timer.config.work = 60s;
  r.timer.phase = Phase::short_break;
  r.timer.completed_work = 2;
  r.timer.running = true;
  r.timer.deadline_wall_us = 1'800'000'123'456'789;
  return r;
}

StoreBatch events(const std::string& room, std::uint64_t from, std::uint64_t to) {
  StoreBatch batch;
  batch.wall_time_us = 1'800'000'000'000'000;
  for (std::uint64_t seq = from; seq <= to; ++seq) {
    batch.events.push_back(
        {room, {seq, "{\"seq\":" + std::to_string(seq) + "}", seq % 2 == 0, {}}, {}});
  }
  return batch;
}

TEST(SqliteStore, KeepsRoomsTimersAndTheNewestEventsAcrossReopening) {
  TempDir dir;
  {
    auto store = SqliteRoomStore::open(dir.path() + "/data");
    EXPECT_TRUE(store->load(10).rooms.empty());
    StoreBatch batch = events("a", 1001, 1040);
    batch.rooms.push_back(record("a", 1000, 1000));
    batch.rooms.push_back(record("b", 5000, 5000));
    ASSERT_FALSE(store->commit(batch, 10));
  }
  auto store = SqliteRoomStore::open(dir.path() + "/data");
  const StoreContents contents = store->load(10);
  EXPECT_EQ(contents.last_commit_wall_us, 1'800'000'000'000'000);
  ASSERT_EQ(contents.rooms.size(), 2u);
  const LoadedRoom& a = contents.rooms[0];
  EXPECT_EQ(a.record.name, "a");
  EXPECT_EQ(a.record.timer, record("a", 1000, 1000).timer);
  EXPECT_EQ(a.record.epoch, 1000u);
  ASSERT_EQ(a.events.size(), 10u) << "the newest `history` events";
  EXPECT_EQ(a.events.front().seq, 1031u);
  EXPECT_EQ(a.events.back().seq, 1040u);
  EXPECT_EQ(a.events.back().payload, "{\"seq\":1040}");
  EXPECT_TRUE(a.events.back().droppable);
  EXPECT_TRUE(contents.rooms[1].events.empty());
}

TEST(SqliteStore, ANewEpochDropsTheOlderHistoryAndRemovedRoomsGo) {
  TempDir dir;
  auto store = SqliteRoomStore::open(dir.path());
  StoreBatch first = events("a", 11, 20);
  first.rooms.push_back(record("a", 10, 10));
  first.rooms.push_back(record("gone", 1, 1));
  ASSERT_FALSE(store->commit(first, 100));
  StoreBatch second = events("a", 9001, 9002);
  second.rooms.push_back(record("a", 9000, 9000));
  second.removed.emplace_back("gone");
  ASSERT_FALSE(store->commit(second, 100));
  const auto rooms = store->load(100).rooms;
  ASSERT_EQ(rooms.size(), 1u);
  ASSERT_EQ(rooms[0].events.size(), 2u);
  EXPECT_EQ(rooms[0].events[0].seq, 9001u);
}

TEST(SqliteStore, ASecondOpenOfTheSameFolderIsRefused) {
  TempDir dir;
  auto first = SqliteRoomStore::open(dir.path());
  try {
    SqliteRoomStore::open(dir.path());
    FAIL() << "opened twice";
  } catch (const StoreOpenError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + "/tickcast.lock"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("locked by another running"), std::string::npos)
        << e.what();
  }
  first.reset();
  EXPECT_NO_THROW(SqliteRoomStore::open(dir.path())) << "the lock goes with the store";
}

TEST(SqliteStore, ACorruptFileIsAStartErrorWithThePath) {
  TempDir dir;
  std::ofstream(dir.path() + "/tickcast.db") << std::string(8192, 'x');
  try {
    SqliteRoomStore::open(dir.path());
    FAIL() << "opened a corrupt file";
  } catch (const StoreOpenError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + "/tickcast.db"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, AFullFileFailsTheWholeBatchThenWorksAgainOnceThereIsRoom) {
  TempDir dir;
  auto store = SqliteRoomStore::open(dir.path(), SqliteOptions{256 * 1024});
  StoreBatch small = events("a", 1, 3);
  small.rooms.push_back(record("a", 0, 0));
  ASSERT_FALSE(store->commit(small, 1000));
  StoreBatch huge;
  huge.wall_time_us = 42;
  for (std::uint64_t seq = 4; seq <= 400; ++seq) {
    huge.events.push_back({"a", {seq, std::string(2000, 'p'), false, {}}, {}});
  }
  const auto failure = store->commit(huge, 1000);
  ASSERT_TRUE(failure) << "256 KiB cannot hold 800 KB of events";
  EXPECT_NE(failure->find("full"), std::string::npos) << *failure;
  const auto contents = store->load(1000);
  ASSERT_EQ(contents.rooms.at(0).events.size(), 3u) << "nothing of the failed batch";
  EXPECT_NE(contents.last_commit_wall_us, 42);
  ASSERT_FALSE(store->commit(events("a", 4, 5), 1000)) << "a batch that fits still goes in";
}

}  // namespace
}  // namespace tickcast::sqlite
