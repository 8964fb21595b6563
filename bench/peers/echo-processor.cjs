// The job of the BullMQ side of `npm run bench:peers`, run by BullMQ in its sandbox (a child
// process it keeps between jobs): returns the job's data, as the worker's `echo` task returns its
// payload, so both sides do the same no-op work.
module.exports = async (job) => job.data;
