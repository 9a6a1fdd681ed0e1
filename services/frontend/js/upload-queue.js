// Runs uploads at most `concurrency` at a time, in the order they were added; the rest wait.

let lastId = 0;

/**
 * A job moves queued → uploading → done | failed | cancelled. Failed and cancelled jobs can
 * be retried (back of the queue). Every change of state or progress fires a "change" event
 * whose detail is the job: {id, file, state, loaded, total, result, error}.
 */
export class UploadQueue extends EventTarget {
  #send;
  #concurrency;
  #waiting = [];
  #running = 0;

  /**
   * @param {(file: File, options: {fields: object, signal: AbortSignal, onProgress: Function}) => Promise<object>} send
   *   uploads one file; resolves with the server's answer, rejects with an ApiError
   * @param {number} concurrency
   */
  constructor(send, concurrency = 3) {
    super();
    this.#send = send;
    this.#concurrency = concurrency;
  }

  /** Queue a file, to be sent with the text `fields` (title, tags...); returns its job. */
  add(file, fields = {}) {
    const job = { id: ++lastId, file, fields, state: 'queued', loaded: 0, total: file.size, result: null, error: null, controller: null };
    this.#enqueue(job);
    return job;
  }

  retry(job) {
    if (job.state === 'failed' || job.state === 'cancelled') this.#enqueue(job);
  }

  /** Stop a job that has not finished: drop it from the queue or abort its request. */
  cancel(job) {
    if (job.state === 'queued') {
      this.#waiting = this.#waiting.filter((waiting) => waiting !== job);
      job.state = 'cancelled';
      this.#changed(job);
    } else if (job.state === 'uploading') {
      job.controller.abort();
    }
  }

  #enqueue(job) {
    Object.assign(job, { state: 'queued', loaded: 0, result: null, error: null });
    this.#waiting.push(job);
    this.#changed(job);
    this.#startWaiting();
  }

  #startWaiting() {
    while (this.#running < this.#concurrency && this.#waiting.length > 0) {
      this.#run(this.#waiting.shift());
    }
  }

  async #run(job) {
    this.#running += 1;
    job.state = 'uploading';
    job.controller = new AbortController();
    this.#changed(job);
    try {
      job.result = await this.#send(job.file, {
        fields: job.fields,
        signal: job.controller.signal,
        onProgress: (loaded, total) => {
          job.loaded = loaded;
          job.total = total;
          this.#changed(job);
        },
      });
      job.state = 'done';
    } catch (error) {
      job.error = error;
      job.state = error.code === 'aborted' ? 'cancelled' : 'failed';
    } finally {
      this.#running -= 1;
      job.controller = null;
      this.#changed(job);
      this.#startWaiting();
    }
  }

  #changed(job) {
    this.dispatchEvent(new CustomEvent('change', { detail: job }));
  }
}
