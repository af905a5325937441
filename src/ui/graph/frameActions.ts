import { createContext } from 'react';

/** What a frame's header can do to the view: collapse its group (back to one box). */
export interface FrameActions {
  collapse(groupId: string): void;
}

/** Provided by the canvas to the frames of open groups. */
export const FrameActionsContext = createContext<FrameActions | null>(null);
