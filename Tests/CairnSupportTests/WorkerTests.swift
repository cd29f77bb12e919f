import CairnSupport
import Dispatch
import Synchronization
import Testing

@Suite struct WorkerTests {
    @Test func jobsRunOneAtATimeInTheOrderGiven() {
        let worker = Worker("test.order")
        let seen = Mutex<[Int]>([])
        let running = Mutex((now: 0, most: 0))
        for i in 0..<200 {
            worker.submit {
                running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                seen.withLock { $0.append(i) }
                running.withLock { $0.now -= 1 }
            }
        }
        worker.wait()
        #expect(seen.withLock { $0 } == Array(0..<200))
        #expect(running.withLock { $0.most } == 1)
    }

    @Test func submitIfIdleRefusesWhileAJobWaitsOrRuns() {
        let worker = Worker("test.idle")
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let ran = Mutex(0)
        #expect(worker.submitIfIdle { started.signal(); release.wait(); ran.withLock { $0 += 1 } })
        started.wait()
        #expect(!worker.submitIfIdle { ran.withLock { $0 += 10 } })
        worker.submit { ran.withLock { $0 += 100 } }
        #expect(!worker.submitIfIdle { ran.withLock { $0 += 1000 } })
        release.signal()
        worker.wait()
        #expect(ran.withLock { $0 } == 101)
        #expect(worker.submitIfIdle { ran.withLock { $0 += 1 } })
        worker.wait()
        #expect(ran.withLock { $0 } == 102)
    }

    struct Planted: Error, Equatable {}

    @Test func startGivesTheResultOrTheErrorToEveryWaiter() throws {
        let worker = Worker("test.start")
        let gate = DispatchSemaphore(value: 0)
        let answer = worker.start { gate.wait(); return 42 }
        let failure = worker.start { () throws -> Int in throw Planted() }
        let waiters = Mutex<[Int]>([])
        let group = DispatchGroup()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                if let value = try? answer.value() { waiters.withLock { $0.append(value) } }
            }
        }
        gate.signal()
        group.wait()
        #expect(waiters.withLock { $0 } == [42, 42, 42, 42])
        #expect(try answer.value() == 42)
        #expect(throws: Planted.self) { try failure.value() }
    }

    @Test func aJobKeepsItsWorkerUntilItHasRun() throws {
        func detached() -> Pending<String> { Worker("test.detached").start { "done" } }
        #expect(try detached().value() == "done")
    }
}
