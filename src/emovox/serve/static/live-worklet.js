// emovox live: the microphone's samples, in blocks of about 20 ms, to the page's thread
// (short blocks: less waiting before a window is complete; benchmarks/live.py --block-ms).
class Frames extends AudioWorkletProcessor {
  constructor() {
    super();
    this.parts = [];
    this.length = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      this.parts.push(channel.slice());
      this.length += channel.length;
      if (this.length >= sampleRate / 50) {
        const block = new Float32Array(this.length);
        let at = 0;
        for (const p of this.parts) { block.set(p, at); at += p.length; }
        this.port.postMessage(block, [block.buffer]);
        this.parts = [];
        this.length = 0;
      }
    }
    return true;
  }
}

registerProcessor("emovox-frames", Frames);
