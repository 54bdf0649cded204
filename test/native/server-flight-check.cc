// A property check of src-native/tls_server_flight.cc, the parser a PSK
// client runs on a TLS server's first flight before OpenSSL reads it: bytes
// from the network, so any bytes. Built with ASan and UBSan by
// test/tls.server-flight.test.ts and run on random flights:
//
//   - no read outside what it is given (ASan), no undefined behaviour (UBSan);
//   - a hint it keeps is at most 256 bytes (OpenSSL's PSK_MAX_IDENTITY_LEN);
//   - what it reports does not depend on how the flight is cut into records:
//     read whole, byte by byte, or in random pieces, it stops at the same
//     message with the same cipher, hint and verdict. Flights with a
//     HelloRetryRequest are left out of this one: that stop comes at the end
//     of its record, by design (OpenSSL answers it once the record is read).
//
//   server-flight-check <seed> <flights>   exits 1 on the first violation
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "tls_server_flight.h"

namespace {

using reactor::ServerFlightReader;

struct Outcome {
  ServerFlightReader::Stop stop = ServerFlightReader::Stop::kNone;
  bool hasCipher = false;
  std::string cipher;
  bool hasHint = false;
  std::string hint;
  bool hintRefused = false;

  bool operator==(const Outcome& other) const {
    return stop == other.stop && hasCipher == other.hasCipher && cipher == other.cipher && hasHint == other.hasHint &&
           hint == other.hint && hintRefused == other.hintRefused;
  }
};

// Reads `flight` cut at `cuts` (ascending offsets), each record in a buffer
// of exactly its size so that ASan sees any read past it, until a stop.
Outcome ReadCut(const std::string& flight, const std::vector<size_t>& cuts) {
  ServerFlightReader reader;
  Outcome outcome;
  size_t at = 0;
  for (size_t i = 0; i <= cuts.size() && outcome.stop == ServerFlightReader::Stop::kNone; i++) {
    size_t end = i < cuts.size() ? cuts[i] : flight.size();
    std::vector<unsigned char> record(flight.begin() + at, flight.begin() + end);
    outcome.stop = reader.Read(record.data(), record.size());
    at = end;
  }
  outcome.hasCipher = reader.hasCipher();
  if (outcome.hasCipher) outcome.cipher.assign(reinterpret_cast<const char*>(reader.cipher()), 2);
  outcome.hasHint = reader.hasHint();
  outcome.hint = reader.hint();
  outcome.hintRefused = reader.hintRefused();
  return outcome;
}

constexpr unsigned char kHelloRetryRandom[32] = {
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

class FlightMaker {
 public:
  explicit FlightMaker(uint64_t seed) : random_(seed) {}

  size_t Below(size_t n) { return static_cast<size_t>(random_() % n); }

  std::string Bytes(size_t n) {
    std::string bytes(n, '\0');
    for (char& byte : bytes) byte = static_cast<char>(random_());
    return bytes;
  }

  // One to five pieces: ServerHellos (some a HelloRetryRequest, some cut
  // short), ServerKeyExchanges with hints of every length (some over 256,
  // some longer than their message, some with a NUL), Certificates, a
  // ServerHelloDone, messages of any type, and bare garbage.
  std::string Flight(bool* helloRetry) {
    std::string flight;
    *helloRetry = false;
    for (size_t pieces = 1 + Below(5); pieces > 0; pieces--) {
      switch (Below(6)) {
        case 0: {
          std::string body = Bytes(2);
          if (Below(4) == 0) {
            body.append(reinterpret_cast<const char*>(kHelloRetryRandom), 32);
            *helloRetry = true;
          } else {
            body += Bytes(32);
          }
          size_t sessionId = Below(3) == 0 ? Below(256) : Below(33);
          body.push_back(static_cast<char>(sessionId));
          body += Bytes(sessionId + 2 + Below(40));
          if (Below(5) == 0) body.resize(Below(body.size() + 1));
          Message(&flight, 2, body);
          break;
        }
        case 1: {
          // Lengths at OpenSSL's 256-byte limit come a quarter of the time.
          size_t hintLength = Below(4) == 0 ? 255 + Below(4) : Below(3) == 0 ? Below(600) : Below(20);
          std::string hint = Bytes(hintLength);
          if (hintLength > 0 && Below(3) == 0) hint[Below(hintLength)] = '\0';
          std::string body{static_cast<char>(hintLength >> 8), static_cast<char>(hintLength)};
          body += hint + Bytes(Below(100));
          if (Below(4) == 0) body.resize(Below(body.size() + 1));
          Message(&flight, 12, body);
          break;
        }
        case 2:
          Message(&flight, 11, Bytes(Below(3000)));
          break;
        case 3:
          Message(&flight, 14, "");
          break;
        case 4:
          flight += Bytes(Below(10));
          break;
        default:
          Message(&flight, static_cast<unsigned char>(Below(256)), Bytes(Below(50)));
      }
    }
    return flight;
  }

 private:
  static void Message(std::string* flight, unsigned char type, const std::string& body) {
    size_t n = body.size();
    *flight += {static_cast<char>(type), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
    *flight += body;
  }

  std::mt19937_64 random_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: server-flight-check <seed> <flights>\n");
    return 2;
  }
  FlightMaker maker(std::strtoull(argv[1], nullptr, 10));
  long flights = std::strtol(argv[2], nullptr, 10);
  long compared = 0;
  for (long i = 0; i < flights; i++) {
    bool helloRetry = false;
    std::string flight = maker.Flight(&helloRetry);
    Outcome whole = ReadCut(flight, {});
    if (whole.hint.size() > 256) {
      std::printf("flight %ld: a hint of %zu bytes kept\n", i, whole.hint.size());
      return 1;
    }
    if (helloRetry) continue;
    for (int way = 0; way < 3; way++) {
      std::vector<size_t> cuts;
      for (size_t at = 1 + (way == 0 ? 0 : maker.Below(way == 1 ? 4 : 300)); at < flight.size();
           at += 1 + (way == 0 ? 0 : maker.Below(way == 1 ? 4 : 300))) {
        cuts.push_back(at);
      }
      Outcome cut = ReadCut(flight, cuts);
      if (!(cut == whole)) {
        std::printf("flight %ld (%zu bytes): read in %zu records it says stop %d, cipher %d, hint %d \"%s\", refused %d; "
                    "whole, stop %d, cipher %d, hint %d \"%s\", refused %d\n",
                    i, flight.size(), cuts.size() + 1, static_cast<int>(cut.stop), cut.hasCipher, cut.hasHint,
                    cut.hint.c_str(), cut.hintRefused, static_cast<int>(whole.stop), whole.hasCipher, whole.hasHint,
                    whole.hint.c_str(), whole.hintRefused);
        return 1;
      }
      compared++;
    }
  }
  std::printf("%ld flights, %ld cut readings compared with the whole\n", flights, compared);
  return 0;
}
