// A doctor probe's verdict, shared by the doctor and the backend-specific probes it runs (a leaf,
// so those probes need not import the doctor).

/** How one probe went: `error` means iptables-sync cannot work as asked; `warn` that it works but
 *  something is missing or odd. */
export type DoctorStatus = 'ok' | 'warn' | 'error';

/** One probe's verdict and what it found, in words. */
export interface DoctorCheck {
  /** This probe's verdict. */
  readonly status: DoctorStatus;
  /** What it found, in one line for people. */
  readonly message: string;
}
