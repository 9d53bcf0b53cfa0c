// RingBufferReader on a real ring the programs fill: however many records wait, one
// turn of the event loop handles a bounded number of them, so timers (the heartbeat
// among them) and the admin API run between turns of a flood.
#include "resolver/ring_buffer_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

using RingBufferReaderTest = DatapathFixture;

TEST_F(RingBufferReaderTest, AFloodOfRecordsIsHandledInBoundedTurns) {
  installPolicy(ipv4Network());
  setEventRateLimit(0);
  const TestNetwork& n = ipv4Network();
  constexpr int kRecords = 700;
  for (int i = 0; i < kRecords; ++i) {
    const auto syn = PacketBuilder(n.host, n.denied)
                         .tcp(static_cast<std::uint16_t>(40000 + i), 443, kTcpSyn)
                         .build();
    ASSERT_EQ(runUplinkEgress(syn), Verdict::kDrop);
  }

  boost::asio::io_context io;
  int handled = 0;
  int turn = 0;
  std::vector<int> handled_in_turn(1, 0);
  // Each turn's records are told before the first is handled, and the turn ends after
  // the last.
  std::size_t announced = 0;
  int turns_ended = 0;
  resolver::RingBufferReader reader(io, datapath().eventsRingFd(), "events",
                                    {.before_turn =
                                         [&](const std::vector<resolver::RingRecord>& records) {
                                           EXPECT_EQ(announced, static_cast<std::size_t>(handled));
                                           announced += records.size();
                                         },
                                     .record =
                                         [&](resolver::RingRecord record) {
                                           EXPECT_EQ(record.size(), sizeof(skouter_flow_event));
                                           ++handled;
                                           ++handled_in_turn.back();
                                         },
                                     .after_turn =
                                         [&] {
                                           ++turns_ended;
                                           EXPECT_EQ(announced, static_cast<std::size_t>(handled));
                                           if (handled == kRecords) io.stop();
                                         }});
  // Another handler of the loop: it runs once per turn, and marks where a turn ends.
  std::function<void()> other_work = [&] {
    ++turn;
    handled_in_turn.push_back(0);
    boost::asio::post(io, other_work);
  };
  boost::asio::post(io, other_work);
  reader.start();
  io.run();

  EXPECT_EQ(handled, kRecords);
  EXPECT_GE(turns_ended, 3);
  EXPECT_LE(*std::max_element(handled_in_turn.begin(), handled_in_turn.end()),
            static_cast<int>(resolver::RingBufferReader::kRecordsPerTurn));
  // The other work ran between the turns that handled the records.
  const auto turns_with_records =
      std::count_if(handled_in_turn.begin(), handled_in_turn.end(), [](int n) { return n > 0; });
  EXPECT_GE(turns_with_records, 3);
}

}  // namespace
}  // namespace skouter::bpftest
