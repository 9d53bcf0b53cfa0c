#include "resolver/ring_buffer_reader.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace skouter::resolver {
namespace {

std::uint64_t loadAcquire(const void* position) {
  return __atomic_load_n(static_cast<const std::uint64_t*>(position), __ATOMIC_ACQUIRE);
}

// A record's length word, its header's first half: the kernel sets the busy bit while
// the record is written and the discard bit when it was given up.
std::uint32_t lengthWordAt(const std::uint8_t* header) {
  return __atomic_load_n(reinterpret_cast<const std::uint32_t*>(header), __ATOMIC_ACQUIRE);
}

// What a record takes in the ring: its header and data, rounded up to 8 bytes.
std::uint64_t footprint(std::uint32_t length_word) {
  const std::uint32_t length = length_word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
  return (static_cast<std::uint64_t>(length) + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
}

}  // namespace

RingBufferReader::RingBufferReader(boost::asio::io_context& io, int ring_fd,
                                   const std::string& what, RingHandlers handlers)
    : handlers_(std::move(handlers)),
      page_size_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))),
      readiness_(io) {
  bpf_map_info info{};
  std::uint32_t info_size = sizeof(info);
  if (bpf_obj_get_info_by_fd(ring_fd, &info, &info_size) != 0 ||
      info.type != BPF_MAP_TYPE_RINGBUF) {
    throw std::runtime_error("the " + what + " ring buffer is not one: " + std::strerror(errno));
  }
  data_size_ = info.max_entries;
  // The layout the kernel gives a ring buffer map: the consumer's page (ours to write),
  // then the producer's page and the data, twice over (read only).
  consumer_page_ = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
  if (consumer_page_ == MAP_FAILED) {
    throw std::runtime_error("cannot map the " + what + " ring buffer: " + std::strerror(errno));
  }
  producer_pages_ = mmap(nullptr, page_size_ + 2 * data_size_, PROT_READ, MAP_SHARED, ring_fd,
                         static_cast<off_t>(page_size_));
  if (producer_pages_ == MAP_FAILED) {
    const int error = errno;
    munmap(consumer_page_, page_size_);
    throw std::runtime_error("cannot map the " + what + " ring buffer: " + std::strerror(error));
  }
  // The map is readable (poll) while it holds records; Asio closes the descriptor it
  // is given.
  readiness_.assign(dup(ring_fd));
}

RingBufferReader::~RingBufferReader() {
  readiness_.close();
  munmap(producer_pages_, page_size_ + 2 * data_size_);
  munmap(consumer_page_, page_size_);
}

void RingBufferReader::start() { waitForRecords(); }

void RingBufferReader::stop() {
  stopped_ = true;
  readiness_.cancel();
}

void RingBufferReader::consume() {
  const auto* data = static_cast<const std::uint8_t*>(producer_pages_) + page_size_;
  const std::uint64_t mask = data_size_ - 1;
  const std::uint64_t producer = loadAcquire(producer_pages_);
  std::uint64_t position = loadAcquire(consumer_page_);
  turn_.clear();
  while (position < producer && turn_.size() < kRecordsPerTurn) {
    const std::uint8_t* header = data + (position & mask);
    const std::uint32_t length_word = lengthWordAt(header);
    if (length_word & BPF_RINGBUF_BUSY_BIT) break;  // still being written
    // Neither bit set: the word is the record's length.
    if (!(length_word & BPF_RINGBUF_DISCARD_BIT)) {
      turn_.emplace_back(header + BPF_RINGBUF_HDR_SZ, length_word);
    }
    position += footprint(length_word);
  }
  if (handlers_.before_turn) handlers_.before_turn(turn_);
  for (const RingRecord record : turn_) handlers_.record(record);
  if (handlers_.after_turn) handlers_.after_turn();
  // Only now may the kernel reuse their space.
  __atomic_store_n(static_cast<std::uint64_t*>(consumer_page_), position, __ATOMIC_RELEASE);
}

void RingBufferReader::waitForRecords() {
  // Each wait re-arms the descriptor, and the ring polls readable while it holds
  // records: records left by a turn that stopped early make it ready again at once,
  // after whatever else was ready meanwhile.
  readiness_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& error) {
                          if (error || stopped_) return;
                          consume();
                          waitForRecords();
                        });
}

}  // namespace skouter::resolver
