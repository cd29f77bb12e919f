import CairnModels
import CairnTraining
import Foundation
import Testing

/// The sweep spec's trials: grids in order, seeded random draws inside their ranges, refinement.
@Suite struct SweepSpecTests {
    private func spec(_ json: String) throws -> SweepSpec {
        try SweepSpec.parse(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
    }

    @Test func gridsEnumerateEveryCombinationInNameOrderUpToTheCap() throws {
        let grid = try spec(#"{"method":"grid","metric":{"name":"val_loss"},"parameters":{"b":{"values":[1,2]},"a":{"values":["x","y","z"]},"c":{"min":1,"max":3}}}"#)
        let trials = try grid.trials(seed: 0)
        #expect(trials.count == 18)
        #expect(trials[0] == ["a": .string("x"), "b": .number(1), "c": .number(1)])
        #expect(trials[1] == ["a": .string("x"), "b": .number(1), "c": .number(2)], "the last name varies fastest")
        #expect(Set(trials.map { $0.description }).count == 18)
        var capped = grid
        capped.runCap = 5
        #expect(try capped.trials(seed: 0) == Array(trials.prefix(5)))
        #expect(grid.metric.goal == .minimize, "minimize unless told")
        // A billion combinations with a cap of three: three made, in order, none of the rest.
        let huge = try spec(#"{"method":"grid","run_cap":3,"metric":{"name":"m"},"parameters":{"a":{"min":0,"max":999},"b":{"min":0,"max":999},"c":{"min":0,"max":999}}}"#)
        #expect(try huge.trials(seed: 0) == [0, 1, 2].map { ["a": .number(0), "b": .number(0), "c": .number(Double($0))] })
        #expect(throws: TrainingError.self) { try spec(#"{"method":"grid","metric":{"name":"m"},"parameters":{"a":{"min":0,"max":999},"b":{"min":0,"max":999}}}"#) }
    }

    @Test func randomDrawsAreSeededAndInsideTheirRanges() throws {
        let random = try spec(#"{"method":"random","run_cap":200,"metric":{"name":"m","goal":"maximize"},"parameters":{"lr":{"min":1e-5,"max":1e-1,"distribution":"log_uniform_values"},"n":{"min":2,"max":4,"distribution":"int_uniform"},"u":{"min":-1,"max":1}}}"#)
        let a = try random.trials(seed: 3), b = try random.trials(seed: 3), c = try random.trials(seed: 4)
        #expect(a == b && a != c)
        let lrs = a.compactMap { $0["lr"]?.number }, ns = a.compactMap { $0["n"]?.number }, us = a.compactMap { $0["u"]?.number }
        #expect(lrs.allSatisfy { $0 >= 1e-5 && $0 <= 1e-1 } && ns.allSatisfy { [2, 3, 4].contains($0) } && us.allSatisfy { $0 >= -1 && $0 <= 1 })
        #expect(Set(ns) == [2, 3, 4], "int_uniform reaches both ends")
        // Log-uniform: about half the draws below the geometric middle (1e-3), not a few percent as uniform would give.
        let below = lrs.filter { $0 < 1e-3 }.count
        #expect(below > 70 && below < 130, "\(below)")
    }

    @Test func refiningShrinksRangesAndListsToTheTop() throws {
        let coarse = try spec(#"{"method":"random","run_cap":8,"metric":{"name":"m"},"parameters":{"lr":{"min":1e-5,"max":1e-1,"distribution":"log_uniform_values"},"h":{"values":[8,16,32]},"e":{"value":3}}}"#)
        let fine = coarse.refined(top: [["lr": .number(1e-3), "h": .number(16), "e": .number(3)], ["lr": .number(4e-3), "h": .number(32), "e": .number(3)]])
        #expect(fine.parameters["lr"] == .range(min: 1e-3, max: 4e-3, distribution: .logUniformValues))
        #expect(fine.parameters["h"] == .values([.number(16), .number(32)]))
        #expect(fine.parameters["e"] == .value(.number(3)) && fine.runCap == 8)
        // One top trial: a twentieth of the old range on each side, in log space.
        let single = coarse.refined(top: [["lr": .number(1e-3)]])
        guard case .range(let low, let high, _)? = single.parameters["lr"] else { Issue.record("not a range"); return }
        #expect(abs(log10(low) - (-3.2)) < 1e-9 && abs(log10(high) - (-2.8)) < 1e-9, "\(low) \(high)")
        #expect(try SweepSpec.parse(fine.document) == fine, "the document reads back as the same spec")
    }

    @Test func aSingleValueRangeDrawsExactlyItAndRefinesInsideIt() throws {
        // The fuzz crash: log(3) then exp gives 3.0000000000000004, outside [3, 3], and refining that gave min > max.
        for distribution in ["log_uniform_values", "uniform"] {
            let one = try spec(#"{"method":"random","run_cap":20,"metric":{"name":"m"},"parameters":{"x":{"min":3,"max":3,"distribution":"\#(distribution)"}}}"#)
            let trials = try one.trials(seed: 1)
            #expect(trials.allSatisfy { $0["x"] == .number(3) }, "\(distribution): \(trials.prefix(3))")
            let refined = one.refined(top: Array(trials.prefix(3)))
            #expect(refined.parameters["x"] == .range(min: 3, max: 3, distribution: SweepSpec.Distribution(rawValue: distribution)!))
            #expect(try SweepSpec.parse(refined.document) == refined)
        }
        // A top value from outside the range (an edited record) never widens it.
        let narrow = try spec(#"{"method":"random","run_cap":2,"metric":{"name":"m"},"parameters":{"x":{"min":1,"max":2}}}"#)
        #expect(narrow.refined(top: [["x": .number(5)]]).parameters["x"] == .range(min: 2, max: 2, distribution: .intUniform))
    }

    @Test func integerRangesStayIntegers() throws {
        #expect(throws: TrainingError.self) {
            try spec(#"{"method":"random","run_cap":2,"metric":{"name":"m"},"parameters":{"n":{"min":1e17,"max":1.00000000001e17,"distribution":"int_uniform"}}}"#)
        }
        let big = try spec(#"{"method":"random","run_cap":50,"metric":{"name":"m"},"parameters":{"n":{"min":9007199254740000,"max":9007199254740992}}}"#)
        let values = try big.trials(seed: 2).compactMap { $0["n"] }
        #expect(values.allSatisfy { !$0.argument.contains("e") && Int64($0.argument) != nil }, "\(values.map(\.argument).prefix(3))")
        #expect(Set(values).count > 40, "draws spread over the range, not a few values")
    }
}
