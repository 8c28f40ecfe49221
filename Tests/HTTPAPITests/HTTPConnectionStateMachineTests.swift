// Proves the connection state machine's decisions as plain values: limits, deadlines, keep-alive, shutdown.
@testable import HTTPAPI
import Testing

@Suite struct HTTPConnectionStateMachineTests {
    typealias Machine = HTTPConnectionStateMachine

    @Test func aKeepAliveRequestCycle() {
        var machine = Machine(maxBodyBytes: 10)
        #expect(machine.connectionActive().timer == .arm(.idle))
        #expect(machine.headBytesArrived().timer == .arm(.header))
        let head = machine.requestHead(contentLength: 4, keepAlive: true, expectsContinue: false)
        #expect(head.forward && head.timer == .arm(.body))
        #expect(machine.requestBody(bytes: 4).forward)
        #expect(machine.requestEnd().timer == .cancel)
        machine.responseHeadWritten()
        #expect(machine.responseEndWritten() == Machine.Actions(timer: .arm(.idle)))
        #expect(!machine.willClose)
    }

    @Test func bodyBytesPastTheLimitAreRejected() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: nil, keepAlive: true, expectsContinue: false)
        #expect(machine.requestBody(bytes: 10).forward)
        let actions = machine.requestBody(bytes: 1)
        #expect(actions.reject == .contentTooLarge && actions.close && !actions.forward)
        #expect(machine.requestBody(bytes: 1) == .none)
    }

    @Test func anErrorWhileAnEarlierResponseIsPendingOnlyCloses() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 0, keepAlive: true, expectsContinue: false)
        _ = machine.requestEnd()
        // The application is still answering the first request: a 400 now would come first.
        let actions = machine.parseError(.badRequest)
        #expect(actions.reject == nil && actions.close)
    }

    @Test func aTimeoutWhileAResponseIsBeingWrittenOnlyCloses() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 5, keepAlive: true, expectsContinue: false)
        machine.responseHeadWritten()
        let actions = machine.deadlineReached(.body)
        #expect(actions.reject == nil && actions.close)
    }

    @Test func connectionCloseRequestsEndTheConnectionAfterTheResponse() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 0, keepAlive: false, expectsContinue: false)
        #expect(machine.willClose)
        _ = machine.requestEnd()
        #expect(machine.responseEndWritten().close)
    }

    @Test func aPipelinedHeadGetsTheHeaderDeadlineOnceTheResponseIsDone() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 0, keepAlive: true, expectsContinue: false)
        _ = machine.requestEnd()
        #expect(machine.headBytesArrived() == .none)
        #expect(machine.responseEndWritten().timer == .arm(.header))
    }

    @Test func shutdownWaitsForPendingResponses() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 0, keepAlive: true, expectsContinue: false)
        #expect(machine.shutdownRequested() == .none)
        #expect(machine.willClose)
        _ = machine.requestEnd()
        #expect(machine.responseEndWritten().close)
    }

    @Test func aStallAfterTheResponseWasSentOnlyCloses() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 5, keepAlive: true, expectsContinue: false)
        machine.responseHeadWritten()
        _ = machine.responseEndWritten()
        let actions = machine.deadlineReached(.body)
        #expect(actions.reject == nil && actions.close)
    }

    @Test func aResponseMarkedCloseEndsTheConnection() {
        var machine = Machine(maxBodyBytes: 10)
        _ = machine.requestHead(contentLength: 5, keepAlive: true, expectsContinue: false)
        machine.responseHeadWritten(closesConnection: true)
        #expect(machine.willClose)
        #expect(machine.responseEndWritten().close)
    }
}
