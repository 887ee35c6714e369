import ParleyCore

struct FrameError: Error {
    let re: String?
    let error: ChatError
}
